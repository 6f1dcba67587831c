"""The Chromium instance of one session: explicit create and destroy, nothing downloaded.

undetected-chromedriver (uc) 3.5.5 patches the chromedriver binary *in place* when it is given
`driver_executable_path` (Patcher.auto -> patch_exe, opened "r+b"), and downloads one when it is
not. So the system chromedriver is copied to a per-session file first and uc patches the copy; the
system binary is never written and nothing is fetched. uc also picks `--headless=chrome` (the old
headless mode, gone from current Chromium) unless it knows the browser's major version, so the
version is read from `chromium --version` and passed as `version_main`.

Every process is accounted for: the browser's pid (uc launches it as our child), chromedriver
(the Selenium service, also our child) and, as a fallback, any process whose command line names
this session's profile dir or driver copy - leftovers of a worker that was killed with -9.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import psutil

from core.settings import Settings

log = logging.getLogger(__name__)

FLAGS = (
    "--no-sandbox",  # the worker runs as root in the container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-breakpad",
    "--password-store=basic",
    # Memory (README "Benchmarks", each measured on the simulator), off: the spare renderer kept
    # warm for a next navigation (6 MB, a process) and the browser's own omnibox popups, which
    # Chromium renders in a WebUI renderer of their own even headless (37 MB, a process); the
    # network service runs inside the browser process instead of its own (16 MB). Nothing WhatsApp
    # Web uses is switched off: JavaScript, WebAssembly, IndexedDB, service workers, WebSockets,
    # WebGL and site isolation stay as in a desktop Chrome. One --disable-features: a second would
    # replace the first.
    "--disable-features=SpareRendererForSitePerProcess,WebUIOmniboxPopup,WebUIOmniboxAimPopup",
    "--enable-features=NetworkServiceInProcess2",
)
# uc appends --window-size=1920,1080 after our flags (the last one wins), so the window is resized
# once started: a laptop-sized window, which WhatsApp Web lays out as usual, and smaller buffers
WINDOW_SIZE = (1280, 800)
# words of a WebDriver error that mean the browser or chromedriver is gone, not just one call failed
DEAD_MARKERS = ("disconnected", "not reachable", "no such window", "invalid session id",
                "session deleted", "target window already closed", "connection refused", "max retries")


def chromium_major_version(chromium_path: str) -> int:
    out = subprocess.run([chromium_path, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"(\d+)\.\d+\.\d+", out)
    if not match:
        raise RuntimeError(f"cannot read the version of {chromium_path}: {out!r}")
    return int(match.group(1))


def desktop_user_agent(major: int) -> str:
    """What a desktop Chrome on Linux sends; headless Chromium would say "HeadlessChrome"."""
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


def driver_copy_path(settings: Settings) -> Path:
    """Outside the profile dir, so a logout (which wipes the profile) keeps it."""
    return Path(settings.tokens_dir) / ".drivers" / settings.session_name / "chromedriver"


def profile_processes(settings: Settings) -> list[psutil.Process]:
    """Every live process started for this session's profile (browser tree and chromedriver)."""
    profile = str(Path(settings.session_profile_dir).resolve())
    driver = str(driver_copy_path(settings).resolve())
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if cmdline and cmdline[0] == driver or any(
                arg == f"--user-data-dir={profile}" for arg in cmdline
            ):
                found[proc.pid] = proc
                for child in proc.children(recursive=True):
                    found[child.pid] = child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return list(found.values())


def become_subreaper() -> None:
    """Make orphaned descendants (Chromium's zygotes, its double-forked crashpad handler) children
    of this process instead of init, so they can be found, killed and reaped here."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        log.debug("cannot become a child subreaper", exc_info=True)


def tree_of(pid: int | None) -> list[psutil.Process]:
    """`pid` and its descendants, plus crashpad handlers re-parented to us (see become_subreaper)."""
    found: list[psutil.Process] = []
    if pid:
        try:
            root = psutil.Process(pid)
            found = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    for proc in psutil.Process().children():
        try:
            if proc.name().startswith("chrome_crashpad") and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def _live(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_processes(procs: list[psutil.Process], grace: float = 5.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left; reap our own children."""
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)  # psutil waits with waitpid on our children: reaped


class Browser:
    """One Chromium + chromedriver pair on the session's profile dir. Not thread-safe by design:
    only the session's browser thread touches it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.driver = None
        self.browser_pid: int | None = None
        # known dead (a WebDriver error said so, or the watchdog killed it): the pump restarts it
        self.dead = False

    def create(self) -> None:
        import undetected_chromedriver as uc  # heavy import, only in the worker

        settings = self.settings
        become_subreaper()
        kill_processes(profile_processes(settings))  # leftovers of a worker killed with -9
        profile = Path(settings.session_profile_dir).resolve()
        profile.mkdir(parents=True, exist_ok=True)
        driver_path = driver_copy_path(settings)
        driver_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(settings.chromedriver_path, driver_path)
        major = chromium_major_version(settings.chromium_path)

        options = uc.ChromeOptions()
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-agent={desktop_user_agent(major)}")
        self.driver = uc.Chrome(
            options=options,
            browser_executable_path=settings.chromium_path,
            driver_executable_path=str(driver_path),
            user_data_dir=str(profile),
            headless=settings.headless,
            version_main=major,
            log_level=3,  # uc keeps Chromium's stderr in a pipe nobody reads: keep it quiet
        )
        self.browser_pid = self.driver.browser_pid
        self.driver.set_window_size(*WINDOW_SIZE)
        self.driver.set_page_load_timeout(settings.browser_timeout_seconds)
        self.driver.set_script_timeout(settings.browser_timeout_seconds)
        log.info("chromium started (pid %s, profile %s)", self.browser_pid, profile)

    def destroy(self) -> None:
        """Close everything, whatever state it is in. Safe to call twice."""
        responsive = self.driver is not None and not self.dead and self.alive()
        driver, self.driver = self.driver, None
        pid, self.browser_pid = self.browser_pid, None
        tree = tree_of(pid)
        try:
            if responsive:
                self._close_gracefully(driver, pid)
            if driver is not None:
                try:
                    driver.quit()  # kills chromedriver, SIGTERMs the browser (it flushes the profile)
                except Exception:  # noqa: BLE001 - a dead browser must not stop the cleanup
                    log.debug("driver.quit failed", exc_info=True)
                self._reap(driver, pid)
            psutil.wait_procs(tree, timeout=5)  # renderers and crashpad follow the browser out
        finally:
            alive = [p for p in tree if _live(p)]
            leftovers = list({p.pid: p for p in [*profile_processes(self.settings), *alive]}.values())
            if leftovers:
                log.info("killing %d leftover browser processes", len(leftovers))
                kill_processes(leftovers)

    @staticmethod
    def _close_gracefully(driver, pid: int) -> None:
        """Ask Chromium to close itself (DevTools `Browser.close`) and wait for it: a normal shutdown
        writes the profile out, where a SIGTERM right after the phone linked lost the localStorage
        that keeps WhatsApp Web logged in (the restart then asked for a new QR)."""
        try:
            driver.execute_cdp_cmd("Browser.close", {})
        except Exception:  # noqa: BLE001 - the connection drops as the browser goes: expected
            pass
        try:
            psutil.Process(pid).wait(timeout=10)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            pass

    @staticmethod
    def _reap(driver, pid: int | None) -> None:
        """Wait for the browser to finish its shutdown, and collect both children (no zombies:
        uc drops its Popen objects, so nobody else would)."""
        service = getattr(driver, "service", None)
        process = getattr(service, "process", None)
        if process is not None:
            try:
                process.wait(timeout=5)
            except Exception:  # noqa: BLE001
                pass
        if pid:
            try:
                psutil.Process(pid).wait(timeout=10)
            except psutil.TimeoutExpired:
                log.warning("chromium %s ignored SIGTERM for 10 s", pid)
            except psutil.NoSuchProcess:
                pass

    def note_failure(self, exc: Exception) -> bool:
        """Mark the browser dead when `exc` (a WebDriver error) says so; True if it is dead."""
        text = str(exc).lower()
        if not self.alive() or any(marker in text for marker in DEAD_MARKERS):
            self.dead = True
        return self.dead

    def alive(self) -> bool:
        if not self.browser_pid:
            return False
        try:
            return psutil.Process(self.browser_pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def rss_mb(self) -> float:
        """Resident memory of the browser process tree (renderers included)."""
        if not self.browser_pid:
            return 0.0
        try:
            root = psutil.Process(self.browser_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / (1024 * 1024)
