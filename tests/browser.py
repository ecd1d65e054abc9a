"""A real browser for the tests: headless Chromium driven over the Chrome DevTools Protocol.

Chromium started with --remote-debugging-pipe reads protocol messages (JSON, each ended by a
NUL byte) on its file descriptor 3 and writes its answers and events on descriptor 4, so no
driver and no network port are needed. The tests load a page, move and click the real mouse
(Input.dispatchMouseEvent), read the page with JavaScript, collect console errors and uncaught
exceptions, record every request that leaves the page, and take screenshots.
"""

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in NAMES:
        if path := shutil.which(name):
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page. `open(path)` loads a file; `errors` holds the console
    errors and uncaught exceptions seen so far, `requests` the URLs the page asked for."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900, timeout: float = 30):
        self.timeout, self.width, self.height = timeout, width, height
        self.profile = tempfile.mkdtemp(prefix="minitrans-chromium-")
        def above_4(fd: int) -> int:  # so that moving the child's two ends to 3 and 4 cannot clash
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return moved

        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        to_browser_read, from_browser_write = above_4(to_browser_read), above_4(from_browser_write)
        # bash (dash takes no descriptor above 9) gives Chromium the two pipes as its descriptors 3 and 4,
        # then becomes Chromium: no Python runs between fork and exec (this process has JAX's threads)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--mute-audio", f"--user-data-dir={self.profile}",
                 f"--window-size={width},{height}", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_read} 4>&{from_browser_write}', executable, *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_browser_read, from_browser_write))
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer, self.next_id, self.events = b"", 0, []
        self.errors: list[str] = []
        self.requests: list[str] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    # ----------------------------------------------------------------------- the protocol

    def read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the connection")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def note(self, event: dict) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        self.events.append(event)

    def send(self, method: str, session: bool = False, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self.read_message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.note(answer)

    def wait_for(self, method: str) -> dict:
        """The next event named `method` (one already received counts)."""
        deadline = time.monotonic() + self.timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self.read_message(deadline)
            self.note(event)
            if event.get("method") == method:
                self.events.remove(event)
                return event

    # ----------------------------------------------------------------------- what a test does

    def open(self, path: str | Path) -> None:
        self.events.clear()
        self.send("Page.navigate", session=True, url=Path(path).resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails'].get('text')} "
                               f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def box(self, selector: str) -> tuple[float, float, float, float]:
        """(x, y, width, height) of the element in the window, scrolled into view if it is not."""
        found = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null; "
                              "e.scrollIntoView({block: 'nearest', inline: 'nearest'}); const r = e.getBoundingClientRect(); "
                              "return [r.x, r.y, r.width, r.height]; })()")
        if found is None:
            raise BrowserError(f"nothing on the page matches {selector!r}")
        return tuple(found)

    def center(self, selector: str) -> tuple[float, float]:
        x, y, width, height = self.box(selector)
        return x + width / 2, y + height / 2

    def hover(self, selector: str) -> None:
        x, y = self.center(selector)
        self.send("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=x, y=y)

    def click(self, selector: str) -> None:
        x, y = self.center(selector)
        self.send("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", session=True, type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, selector: str | None = None) -> np.ndarray:
        """The page (or one element of it) as an RGB array (height, width, 3) of floats in [0, 1]."""
        import matplotlib.image

        params = {"format": "png"}
        if selector is not None:
            x, y, width, height = self.box(selector)
            left, top = self.evaluate("[window.scrollX, window.scrollY]")  # the clip is in page coordinates
            params["clip"] = {"x": x + left, "y": y + top, "width": width, "height": height, "scale": 1}
        data = base64.b64decode(self.send("Page.captureScreenshot", session=True, **params)["data"])
        return matplotlib.image.imread(io.BytesIO(data), format="png")[..., :3]

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for fd in (self.to_browser, self.from_browser):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


def ink(image: np.ndarray, background=(1.0, 1.0, 1.0), tolerance: float = 0.08) -> float:
    """The fraction of pixels that differ from the background: how much is drawn."""
    return float((np.abs(image - np.asarray(background)).max(-1) > tolerance).mean())
