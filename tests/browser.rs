//! The live view in a real browser: headless Chromium (the distribution's package) driven over
//! the DevTools protocol (chromiumoxide) against a running lab started with `--web`. It loads
//! the page, listens to the console, exceptions, the log and every request the page makes,
//! clicks the page's own buttons, and compares what the page shows with what ping and iperf3
//! measure in the lab's namespaces.
//!
//! With REACHLAB_SCREENSHOTS=DIR set, it also writes the screenshots the README shows
//! (live-seed.png, live-seed-removed.png, live-four-circuits.png) to DIR.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::log::{EventEntryAdded, LogEntryLevel};
use chromiumoxide::cdp::browser_protocol::network::EventRequestWillBeSent;
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use common::{root_or_skip, within, Lab};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is here; in CI it must be (install-deps installs it).
fn chromium_or_skip(test: &str) -> bool {
    if std::path::Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs {CHROMIUM}: scripts/install-deps.sh installs the chromium package");
    }
    eprintln!("\n*** SKIPPED {test}: no {CHROMIUM} (apt-get install chromium, or run scripts/install-deps.sh as root) ***\n");
    false
}

/// A headless Chromium with one page, and what that page reported: console errors,
/// exceptions, error log entries, and every URL it requested. Closed (and its profile
/// removed) on drop.
struct Chromium {
    rt: Runtime,
    browser: Option<Browser>,
    page: Page,
    profile: std::path::PathBuf,
    errors: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Chromium {
    fn launch(tag: &str) -> Chromium {
        let rt = Runtime::new().unwrap();
        let profile =
            std::env::temp_dir().join(format!("reachlab-chromium-{tag}-{}", std::process::id()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (browser, page) = rt.block_on(async {
            let config = BrowserConfig::builder()
                .chrome_executable(CHROMIUM)
                .no_sandbox()
                .user_data_dir(&profile)
                .window_size(1280, 900)
                .viewport(Viewport {
                    width: 1280,
                    height: 900,
                    ..Default::default()
                })
                .launch_timeout(Duration::from_secs(60))
                .request_timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let (browser, mut handler) = Browser::launch(config).await.unwrap();
            tokio::spawn(async move { while handler.next().await.is_some() {} });
            let page = browser.new_page("about:blank").await.unwrap();
            page.enable_log().await.unwrap();
            let mut console = page
                .event_listener::<EventConsoleApiCalled>()
                .await
                .unwrap();
            let mut thrown = page.event_listener::<EventExceptionThrown>().await.unwrap();
            let mut log = page.event_listener::<EventEntryAdded>().await.unwrap();
            let mut sent = page
                .event_listener::<EventRequestWillBeSent>()
                .await
                .unwrap();
            let e = Arc::clone(&errors);
            tokio::spawn(async move {
                while let Some(ev) = console.next().await {
                    if matches!(
                        ev.r#type,
                        ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
                    ) {
                        let args: Vec<String> =
                            ev.args.iter().map(|a| format!("{:?}", a.value)).collect();
                        e.lock()
                            .unwrap()
                            .push(format!("console.error: {}", args.join(" ")));
                    }
                }
            });
            let e = Arc::clone(&errors);
            tokio::spawn(async move {
                while let Some(ev) = thrown.next().await {
                    e.lock().unwrap().push(format!(
                        "exception: {} {:?}",
                        ev.exception_details.text,
                        ev.exception_details
                            .exception
                            .as_ref()
                            .and_then(|x| x.description.clone())
                    ));
                }
            });
            let e = Arc::clone(&errors);
            tokio::spawn(async move {
                while let Some(ev) = log.next().await {
                    if ev.entry.level == LogEntryLevel::Error {
                        e.lock().unwrap().push(format!(
                            "log: {} ({})",
                            ev.entry.text,
                            ev.entry.url.clone().unwrap_or_default()
                        ));
                    }
                }
            });
            let r = Arc::clone(&requests);
            tokio::spawn(async move {
                while let Some(ev) = sent.next().await {
                    r.lock().unwrap().push(ev.request.url.clone());
                }
            });
            (browser, page)
        });
        Chromium {
            rt,
            browser: Some(browser),
            page,
            profile,
            errors,
            requests,
        }
    }

    fn goto(&self, url: &str) {
        self.rt.block_on(async {
            self.page.goto(url).await.unwrap();
        });
    }

    /// A JavaScript expression's value.
    fn eval<T: serde::de::DeserializeOwned>(&self, js: &str) -> T {
        self.rt.block_on(async {
            self.page
                .evaluate(js)
                .await
                .unwrap_or_else(|e| panic!("{js}: {e}"))
                .into_value::<T>()
                .unwrap_or_else(|e| panic!("{js}: {e}"))
        })
    }

    /// Waits (up to `secs`) for a JavaScript condition to hold.
    fn wait_for(&self, secs: u64, js: &str) -> bool {
        within(secs, || self.eval::<bool>(js)).is_some()
    }

    /// A real click (mouse events at the element's centre) on the first match of `css`.
    fn click(&self, css: &str) {
        self.rt.block_on(async {
            self.page
                .find_element(css)
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"))
                .click()
                .await
                .unwrap();
        });
    }

    fn type_into(&self, css: &str, text: &str) {
        self.eval::<bool>(&format!(
            "(() => {{ const e = document.querySelector({css:?}); e.value = ''; e.focus(); return true; }})()"
        ));
        self.rt.block_on(async {
            self.page
                .find_element(css)
                .await
                .unwrap()
                .type_str(text)
                .await
                .unwrap();
        });
    }

    fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("REACHLAB_SCREENSHOTS") else {
            return;
        };
        let png = self.rt.block_on(async {
            self.page
                .screenshot(
                    ScreenshotParams::builder()
                        .format(CaptureScreenshotFormat::Png)
                        .full_page(true)
                        .build(),
                )
                .await
                .unwrap()
        });
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Every URL requested that is neither the lab's server nor inline data.
    fn outside(&self, origin: &str) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|u| !u.starts_with(origin) && !u.starts_with("data:") && *u != "about:blank")
            .cloned()
            .collect()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if let Some(mut b) = self.browser.take() {
            self.rt.block_on(async {
                let _ = b.close().await;
                let _ = tokio::time::timeout(Duration::from_secs(10), b.wait()).await;
                let _ = b.kill().await;
            });
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The Global Reach path's colour in the page's picture ("" when not drawn).
const GR_STROKE: &str = r##"(document.querySelector('#graph path[data-gr="er-sv|er-london"]') || {getAttribute: () => ""}).getAttribute("stroke")"##;

#[test]
fn the_page_in_chromium_shows_the_lab_live_and_its_switches_work() {
    if !root_or_skip("browser_seed") || !chromium_or_skip("browser_seed") {
        return;
    }
    let lab = Lab::for_screenshots("brw", "topologies/global-reach.toml");
    lab.up_with(&["--web", "127.0.0.1:0", "--web-control"]);
    let origin = format!("http://{}/", lab.web_addr());
    let c = Chromium::launch("seed");
    c.goto(&origin);

    // Loaded: the picture, and the first pushed numbers in the tables.
    assert!(
        c.wait_for(
            15,
            r##"!!document.querySelector("#graph svg") && document.querySelectorAll("#links tbody tr.link").length === 4 && document.querySelectorAll("#gr tbody tr").length === 1"##
        ),
        "the page never showed the lab; errors: {:?}",
        c.errors()
    );
    let text: String = c.eval("document.body.innerText");
    let svg: String = c.eval(r##"document.querySelector("#graph svg").textContent"##);
    for name in [
        "sf",
        "london",
        "er-sv",
        "er-london",
        "Global Reach 192.168.8.0/29",
    ] {
        assert!(svg.contains(name), "the picture lacks {name}:\n{svg}");
    }
    assert!(text.contains("Connected"), "{text}");
    assert_eq!(c.eval::<String>(GR_STROKE), "#107c10", "drawn connected");
    assert!(c.errors().is_empty(), "console errors: {:?}", c.errors());
    assert!(
        c.outside(&origin).is_empty(),
        "requests leaving the lab's server: {:?}",
        c.outside(&origin)
    );

    // iperf3 SF -> London at a steady 100 Mbit/s (UDP: no slow start, every second alike;
    // 1300-byte datagrams, under the circuit's 1400 MTU, so none is fragmented); the page's
    // er-sv "in" rate (both links: the flow hashes onto one; IP bytes, 2% over iperf3's
    // payload) against iperf3's own interval for the same second.
    let start = Instant::now();
    let mut shown: Vec<(f64, f64, String)> = Vec::new();
    let report = std::thread::scope(|s| {
        let iperf = s.spawn(|| lab.iperf3_udp(("sf", "london", "10.0.2.1"), 5201, 8, "100M"));
        for at in [3.5, 4.5, 5.5, 6.5] {
            let wait = Duration::from_secs_f64(at).saturating_sub(start.elapsed());
            std::thread::sleep(wait);
            let mbps: f64 = c.eval(
                r##"["primary", "secondary"].map(l => parseFloat(document.querySelector(`[data-mbps="er-sv/${l}/in"]`).textContent)).reduce((a, b) => a + b)"##,
            );
            let label: String = c.eval(
                r##"[...document.querySelectorAll("#graph [data-rate^='er-sv/']")].map(t => t.textContent).join(" | ")"##,
            );
            shown.push((start.elapsed().as_secs_f64(), mbps, label));
            if at == 4.5 {
                c.screenshot("live-seed.png");
            }
        }
        iperf.join().unwrap()
    });
    let intervals: Vec<(f64, f64)> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sum"]["end"].as_f64().unwrap(),
                i["sum"]["bits_per_second"].as_f64().unwrap() / 1e6,
            )
        })
        .collect();
    for (at, mbps, label) in &shown {
        // The interval iperf3 ended nearest the moment the page was read.
        let (end, iperf) = intervals
            .iter()
            .min_by(|a, b| (a.0 - at).abs().total_cmp(&(b.0 - at).abs()))
            .copied()
            .unwrap();
        let err = (mbps - iperf).abs() / iperf;
        eprintln!(
            "page at {at:.2} s: {mbps:.1} Mbit/s; iperf3 second ending {end:.1} s: {iperf:.1} Mbit/s ({:+.1}%); picture: {label}",
            (mbps - iperf) / iperf * 100.0
        );
        assert!(
            err <= 0.10,
            "the page showed {mbps:.1} Mbit/s, iperf3 {iperf:.1} for the same second: {shown:?} {intervals:?}"
        );
        // The same number drawn beside the link on the picture.
        let on_picture = label
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|n| n.parse::<f64>().ok())
            .any(|n| (n - iperf).abs() / iperf <= 0.10);
        assert!(
            label.contains('→') && label.contains("Mbit/s") && on_picture,
            "numbers on the picture: {label}"
        );
    }

    // Click "remove Global Reach": ping fails within 2 s, drawn as removed.
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 1);
    c.click(r##"#gr tbody tr[data-gr="er-sv|er-london"] button"##);
    let clicked = Instant::now();
    let failed = within(3, || lab.ping("sf", "10.0.2.1", 1).0 == 0).map(|_| clicked.elapsed());
    assert!(
        failed.is_some_and(|d| d <= Duration::from_secs(2)),
        "ping still answered {failed:?} after the click"
    );
    assert_eq!(lab.gr_count(), 0, "the CLI sees the change");
    assert!(
        c.wait_for(5, &format!(r##"{GR_STROKE} === "#8a8886""##)),
        "not drawn as removed: {}",
        c.eval::<String>(GR_STROKE)
    );
    assert!(c.wait_for(
        3,
        r##"document.querySelector('#gr tbody tr[data-gr="er-sv|er-london"]').innerText.includes("removed")"##
    ));
    c.screenshot("live-seed-removed.png");
    assert!(c.errors().is_empty(), "console errors: {:?}", c.errors());

    // A refused action, from the page's own form: a /28. The rule's words, nothing changed.
    c.type_into("#p", "192.168.8.0/28");
    c.click("#addbtn");
    assert!(
        c.wait_for(
            5,
            r##"document.querySelector("#msg").className === "error""##
        ),
        "no refusal shown"
    );
    let msg: String = c.eval(r##"document.querySelector("#msg").textContent"##);
    assert!(
        msg.contains("/29"),
        "the refusal in the rule's words: {msg}"
    );
    assert_eq!(lab.gr_count(), 0, "nothing changed");
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 0);
    // The only error since: the browser's note of the refused request itself.
    let errors = c.errors();
    assert!(
        errors
            .iter()
            .all(|e| e.contains("400") && e.contains("/api/global-reach")),
        "{errors:?}"
    );

    // "add it back": ping answers within 2 s again, drawn connected.
    c.click(r##"#gr tbody tr[data-gr="er-sv|er-london"] button"##);
    let clicked = Instant::now();
    let back = within(3, || lab.ping("sf", "10.0.2.1", 1).0 == 1).map(|_| clicked.elapsed());
    assert!(
        back.is_some_and(|d| d <= Duration::from_secs(2)),
        "ping did not come back: {back:?}"
    );
    assert_eq!(lab.gr_count(), 1);
    assert!(
        c.wait_for(5, &format!(r##"{GR_STROKE} === "#107c10""##)),
        "not drawn connected again"
    );
    assert!(
        c.outside(&origin).is_empty(),
        "requests leaving the lab's server: {:?}",
        c.outside(&origin)
    );
}

#[test]
fn four_circuits_in_chromium() {
    if !root_or_skip("browser_four") || !chromium_or_skip("browser_four") {
        return;
    }
    let lab = Lab::for_screenshots("brw4", "topologies/four-circuits.toml");
    lab.up_with(&["--web", "127.0.0.1:0"]);
    let origin = format!("http://{}/", lab.web_addr());
    let c = Chromium::launch("four");
    c.goto(&origin);
    assert!(
        c.wait_for(
            15,
            r##"!!document.querySelector("#graph svg") && document.querySelectorAll("#links tbody tr.link").length === 8"##
        ),
        "the page never showed the lab; errors: {:?}",
        c.errors()
    );
    // Traffic on two circuits, so the picture has numbers on it.
    assert_eq!(lab.ping("sf", "10.3.0.1", 3).0, 3);
    let svg: String = c.eval(r##"document.querySelector("#graph svg").textContent"##);
    for name in [
        "er-sv",
        "er-dc",
        "er-london",
        "er-amsterdam",
        "Global Reach 192.168.8.16/29",
    ] {
        assert!(svg.contains(name), "the picture lacks {name}");
    }
    // Read-only: no switches on the page.
    assert_eq!(
        c.eval::<usize>(r##"document.querySelectorAll("#links button, #gr button").length"##),
        0
    );
    // Every label inside the picture: none is wider than its box allows (measured by the
    // browser, not estimated).
    let overflow: Vec<String> = c.eval(
        r##"(() => { const svg = document.querySelector("#graph svg"); const w = svg.viewBox.baseVal.width;
            return [...svg.querySelectorAll("text")].filter(t => { const b = t.getBBox(); return b.x < 0 || b.x + b.width > w; }).map(t => t.textContent); })()"##,
    );
    assert!(
        overflow.is_empty(),
        "labels leaving the picture: {overflow:?}"
    );
    let outside_boxes: Vec<String> = c.eval(
        r##"(() => { const svg = document.querySelector("#graph svg");
            const boxes = [...svg.querySelectorAll("rect[rx='8']")].map(r => r.getBBox());
            const out = [];
            for (const t of svg.querySelectorAll("text")) {
              const b = t.getBBox(), cx = b.x + b.width / 2, cy = b.y + b.height / 2;
              const home = boxes.find(r => cx > r.x && cx < r.x + r.width && cy > r.y && cy < r.y + r.height);
              if (home && (b.x < home.x || b.x + b.width > home.x + home.width)) out.push(t.textContent);
            }
            return out; })()"##,
    );
    assert!(
        outside_boxes.is_empty(),
        "labels leaving their boxes: {outside_boxes:?}"
    );
    // Traffic across two connections while the picture is taken: 40 Mbit/s ny -> amsterdam,
    // 120 Mbit/s sf -> london.
    std::thread::scope(|s| {
        let a = s.spawn(|| lab.iperf3_udp(("ny", "amsterdam", "10.4.0.1"), 5201, 4, "40M"));
        let b = s.spawn(|| lab.iperf3_udp(("sf", "london", "10.3.0.1"), 5202, 4, "120M"));
        std::thread::sleep(Duration::from_secs(3));
        let shown: f64 = c.eval(r##"parseFloat(document.querySelector('[data-mbps="er-dc/primary/in"]').textContent) + parseFloat(document.querySelector('[data-mbps="er-dc/secondary/in"]').textContent)"##);
        assert!(
            (shown - 40.8).abs() < 4.0,
            "er-dc shows {shown} Mbit/s for 40 Mbit/s of iperf3"
        );
        c.screenshot("live-four-circuits.png");
        a.join().unwrap();
        b.join().unwrap();
    });
    assert!(c.errors().is_empty(), "console errors: {:?}", c.errors());
    assert!(c.outside(&origin).is_empty(), "{:?}", c.outside(&origin));
}
