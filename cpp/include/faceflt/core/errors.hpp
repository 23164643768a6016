// Exception types of the compiled core. The bindings translate each into the Python class of the
// same name in faceflt.errors, so callers catch faceflt.errors.ModelFormatError, never a crash.
#pragma once

#include <stdexcept>
#include <string>

namespace faceflt::core {

// A model file is missing, truncated, corrupted or of an unsupported version.
// The message names the file, the field and what was expected.
class ModelFormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Fitting cannot proceed, e.g. too few valid landmarks remain after dropping NaN / low-confidence ones.
class FitError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A rendering backend cannot start or failed: no libEGL, no display, no GL 3.3 context...
// The message names the EGL/GL call and its error code.
class RenderBackendError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace faceflt::core
