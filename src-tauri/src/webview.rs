//! The web view's own settings, where WebKitGTK's defaults cost this app its frame budget.
//!
//! On Linux, WebKitGTK scrolls an overflow area (the keys table's viewport, the audit log) on
//! its compositor: the area becomes a layer of its own, and every change to its content (each
//! keystroke in the filter redraws the rows in view) repaints that layer and composites it
//! again. The rows are drawn on the page's thread anyway (the table renders only what is in
//! view), so that buys nothing here, and without a GPU (Mesa's software rasteriser) it costs
//! each keystroke tens of milliseconds: BENCHMARKS.md, "Desktop app". Turned off, overflow
//! areas scroll on the page's thread and are painted with the rest of the page.
//!
//! The switch is one of WebKitGTK's feature flags (`webkit_settings_set_feature_enabled`,
//! since WebKitGTK 2.42), which the webkit2gtk crate does not bind: the functions are looked
//! up at run time, so an older WebKitGTK still starts the app, only with its default.

use tauri::{Runtime, WebviewWindow};

use crate::applog;

/// WebKit's identifier of the feature that scrolls overflow areas on the compositor.
#[cfg(target_os = "linux")]
const ASYNC_OVERFLOW_SCROLLING: &str = "AsyncOverflowScrolling";

/// Applies the app's web view settings to `window` (before its page draws anything that
/// scrolls: the call is queued on the event loop ahead of the page's first commands).
pub fn tune<R: Runtime>(window: &WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    {
        let queued = window.with_webview(|webview| {
            use webkit2gtk::glib::translate::ToGlibPtr;
            use webkit2gtk::WebViewExt;

            let outcome = match webview.inner().settings() {
                Some(settings) => {
                    let raw: *mut webkit2gtk::ffi::WebKitSettings = settings.to_glib_none().0;
                    linux::set_feature(raw.cast(), ASYNC_OVERFLOW_SCROLLING, false)
                }
                None => Err("the web view has no settings"),
            };
            match outcome {
                Ok(()) => applog::info("web view: overflow areas scroll on the page's thread"),
                Err(why) => applog::warn(&format!(
                    "web view: overflow areas keep WebKit's compositor scrolling ({why})"
                )),
            }
        });
        if let Err(error) = queued {
            applog::warn(&format!("web view: its settings were not reached: {error}"));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_char, c_int, c_void, CStr};

    type AllFeatures = unsafe extern "C" fn() -> *mut c_void;
    type ListLength = unsafe extern "C" fn(*mut c_void) -> usize;
    type ListGet = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
    type ListUnref = unsafe extern "C" fn(*mut c_void);
    type Identifier = unsafe extern "C" fn(*mut c_void) -> *const c_char;
    type SetEnabled = unsafe extern "C" fn(*mut c_void, *mut c_void, c_int);

    /// A function of the WebKitGTK library the process has loaded, if it has one by that name.
    ///
    /// # Safety
    /// `F` must be the function pointer type of the C function called `name`.
    unsafe fn symbol<F: Copy>(name: &CStr) -> Option<F> {
        let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        (!found.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&found) })
    }

    /// Sets the feature called `identifier` in `settings` (a `WebKitSettings *`).
    pub fn set_feature(
        settings: *mut c_void,
        identifier: &str,
        enabled: bool,
    ) -> Result<(), &'static str> {
        // SAFETY: each type is the signature of the function of that name in WebKitGTK's API
        // (webkit2/WebKitFeature.h, WebKitSettings.h).
        let functions = unsafe {
            (
                symbol::<AllFeatures>(c"webkit_settings_get_all_features"),
                symbol::<ListLength>(c"webkit_feature_list_get_length"),
                symbol::<ListGet>(c"webkit_feature_list_get"),
                symbol::<ListUnref>(c"webkit_feature_list_unref"),
                symbol::<Identifier>(c"webkit_feature_get_identifier"),
                symbol::<SetEnabled>(c"webkit_settings_set_feature_enabled"),
            )
        };
        let (Some(all), Some(length), Some(get), Some(unref), Some(id_of), Some(set_enabled)) =
            functions
        else {
            return Err("this WebKitGTK has no feature settings");
        };
        // SAFETY: the list is WebKit's (transfer full) and released once; the features are
        // the list's own (transfer none) and used only while it is held; identifiers are
        // NUL-terminated strings WebKit owns; `settings` is the web view's live WebKitSettings.
        unsafe {
            let list = all();
            if list.is_null() {
                return Err("WebKitGTK listed no features");
            }
            let feature = (0..length(list))
                .map(|index| get(list, index))
                .find(|&feature| {
                    let id = id_of(feature);
                    !id.is_null() && CStr::from_ptr(id).to_bytes() == identifier.as_bytes()
                });
            if let Some(feature) = feature {
                set_enabled(settings, feature, c_int::from(enabled));
            }
            unref(list);
            feature
                .map(|_| ())
                .ok_or("this WebKitGTK has no such feature")
        }
    }
}
