#!/usr/bin/env python3
"""The cost of end-to-end encryption in the browser (issue 14): web/crypto.js in headless Chromium,
sealing and opening a 3 MiB image and 1,000 history messages of about 100 bytes, as the page does
them (one after another, base64url on the wire included). Prints one JSON object on stdout:

  {"image_encrypt_ms": .., "image_decrypt_ms": .., "history_decrypt_ms": .., "history_encrypt_ms": ..,
   "runs": 5, "chromium": "<version>"}

each the median of `runs` runs (after one warm-up run), in milliseconds. `echo-bench suite` reads
this output: keep its keys stable. web/ is served by a tiny http server on 127.0.0.1 (a secure
context: WebCrypto needs one). Needs Playwright (Tests/python/requirements.txt) and Chromium.

  .venv/bin/python scripts/bench_e2e_browser.py [--runs 5] [--chromium /usr/bin/chromium]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

WEB = Path(__file__).resolve().parents[1] / "web"
IMAGE_BYTES = 3 * 1024 * 1024
HISTORY_MESSAGES = 1000
TEXT_BYTES = 100

# One run in the page: every number is wall time around awaited WebCrypto work (performance.now()).
RUN = r"""
async ({ imageBytes, count, textBytes }) => {
  const c = await import('/crypto.js');
  const keys = await c.RoomKeys.derive('bench-room-0001', c.newSecret());
  const limits = { messageLength: 4000, imageBytes };
  // Random bytes behind a PNG signature: the receiver's magic-number check passes, nothing compresses.
  const image = new Uint8Array(imageBytes);
  for (let i = 0; i < imageBytes; i += 65536) crypto.getRandomValues(image.subarray(i, Math.min(i + 65536, imageBytes)));
  image.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const texts = Array.from({ length: count }, (_, i) => `message ${String(i).padStart(4, '0')} `.padEnd(textBytes, 'lorem ipsum '));

  let t = performance.now();
  const sealedImage = await keys.sealChat('session-bench', { text: '', image: { type: 'png', bytes: image } });
  const imageEncrypt = performance.now() - t;
  t = performance.now();
  const opened = await keys.openChat('session-bench', sealedImage, limits);
  const imageDecrypt = performance.now() - t;
  if (opened.image.bytes.length !== imageBytes) throw new Error('the image did not round-trip');

  const sealed = [];
  t = performance.now();
  for (const text of texts) sealed.push(await keys.sealChat('session-bench', { text }));
  const historyEncrypt = performance.now() - t;
  t = performance.now();
  for (const message of sealed) await keys.openChat('session-bench', message, limits);
  const historyDecrypt = performance.now() - t;
  return { imageEncrypt, imageDecrypt, historyEncrypt, historyDecrypt };
}
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def log_message(self, *args):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default=os.environ.get("ECHO_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(WEB)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/favicon.svg")
            params = {"imageBytes": IMAGE_BYTES, "count": HISTORY_MESSAGES, "textBytes": TEXT_BYTES}
            page.evaluate(RUN, params)  # warm-up: module load, JIT, first key imports
            runs = [page.evaluate(RUN, params) for _ in range(args.runs)]
            version = browser.version
            browser.close()
    finally:
        server.shutdown()

    def median(name: str) -> float:
        return round(statistics.median(r[name] for r in runs), 1)

    json.dump({"image_encrypt_ms": median("imageEncrypt"), "image_decrypt_ms": median("imageDecrypt"),
               "history_decrypt_ms": median("historyDecrypt"), "history_encrypt_ms": median("historyEncrypt"),
               "runs": args.runs, "chromium": version}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
