//! How the app asks WebKitGTK to spend less memory and start sooner (issue 5): a one-page
//! forms-and-tables UI needs neither compositing on the GPU nor a browser's caches.
//!
//! Measured under Xvfb (software GL, the benchmark's setting), WebKitGTK's default of compositing
//! every page renders through Mesa's llvmpipe: about 95 MB more PSS in the web process and about
//! a second more to the first view with data. Without it the page is painted on the CPU, which a
//! page without animations does not notice. (Asking for compositing on demand once the webview
//! exists saves nothing: the page is composited by then.)
//!
//! One known cost: with compositing off, WebKitWebDriver's click on Save hangs (5 of 6 end-to-end
//! runs; the page itself saved and repainted every time), so the end-to-end test runs with
//! `WEBKIT_DISABLE_COMPOSITING_MODE=0`; the benchmark drives the default.

/// Set before GTK or WebKit start (and before any thread, as environment writes require). A
/// variable the user already set wins (`WEBKIT_DISABLE_COMPOSITING_MODE=0` keeps compositing).
pub fn prepare_environment() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
}

/// Settings for the app's one page, applied once its webview exists: no back/forward page cache
/// (there is no navigation to go back to) and the document-viewer cache model, WebKit's smallest
/// (no memory cache of resources kept for other pages).
pub fn tune<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    {
        let tuned = window.with_webview(|webview| {
            use webkit2gtk::{CacheModel, SettingsExt, WebContextExt, WebViewExt};
            let webview = webview.inner();
            if let Some(settings) = WebViewExt::settings(&webview) {
                settings.set_enable_page_cache(false);
            }
            if let Some(context) = webview.context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
        });
        if let Err(e) = tuned {
            tracing::debug!(error = %e, "the webview's settings were left as they are");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
