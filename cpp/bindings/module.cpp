// faceflt._core: the compiled core. Private; the public API is faceflt/__init__.py.
#include "faceflt/core/errors.hpp"

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace faceflt::bindings {
void bind_model(py::module_& m);
void bind_fitting(py::module_& m);
void bind_render(py::module_& m);
}  // namespace faceflt::bindings

PYBIND11_MODULE(_core, m) {
    m.doc() = "faceflt compiled core (private): model I/O, fitting, fusion, projection and rendering";
    // C++ errors become the Python classes of faceflt.errors, looked up when first raised so that
    // importing _core alone does not import the package.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const faceflt::core::ModelFormatError& e) {
            py::object cls = py::module_::import("faceflt.errors").attr("ModelFormatError");
            PyErr_SetString(cls.ptr(), e.what());
        } catch (const faceflt::core::FitError& e) {
            py::object cls = py::module_::import("faceflt.errors").attr("FitError");
            PyErr_SetString(cls.ptr(), e.what());
        } catch (const faceflt::core::RenderBackendError& e) {
            py::object cls = py::module_::import("faceflt.errors").attr("RenderBackendError");
            PyErr_SetString(cls.ptr(), e.what());
        }
    });
    faceflt::bindings::bind_model(m);
    faceflt::bindings::bind_fitting(m);
    faceflt::bindings::bind_render(m);
}
