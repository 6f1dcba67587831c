"""Issue 14's media benchmark: a 100 MB document through the store and a real worker, on the simulator.

    python -m tests.benchmarks bench_media      (or `make bench` for every benchmark)

1. Ingest: the file is written into the media store (services.media.store, what /send-media does
   after parsing the upload) from a generator: seconds, MB/s, and the table's size on disk.
2. Send: a message carrying it is queued; the worker streams the chunks into the page and
   WhatsApp Web (the simulator) receives it. The worker process's RSS is sampled every 10 ms from
   before the publish until the row is SENT; the figure is its peak growth over the baseline, with
   the target from the issue: less than twice the file. Chromium's growth is printed beside it
   (a separate process tree: what the page holds, not the worker). The bytes WhatsApp got are
   compared by SHA-256.
3. Receive: the same file comes in from the simulated phone; the worker reads it from the page in
   slices into the store; the same sampling until the row has its media.
"""
from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil

from tests.benchmarks.harness import emit, prepare, redis_client

BENCH = "media"
SIZE_MB = int(os.environ.get("BENCH_MEDIA_MB", "100"))
MB = 1024 * 1024


def document_chunks(size: int, seed: bytes):
    """A PDF head then pseudo-random bytes (incompressible, like real media), a MB at a time."""
    yield b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    left, block = size - 15, hashlib.sha256(seed).digest() * (MB // 32)
    counter = 0
    while left > 0:
        counter += 1
        piece = bytes(b ^ (counter & 0xFF) for b in block[:min(left, 4096)]) + block[4096:min(left, MB)]
        yield piece
        left -= len(piece)


class Sampler:
    """Peak RSS of a process and of a set of others, sampled every 10 ms on a thread."""

    def __init__(self, pid: int, others):
        self.process, self.others = psutil.Process(pid), others
        self.baseline = self.process.memory_info().rss
        self.others_baseline = self._others_rss()
        self.peak, self.others_peak = self.baseline, self.others_baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _others_rss(self) -> int:
        total = 0
        for proc in self.others():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        ticks = 0
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            if ticks % 10 == 0:  # the browser tree is many processes: every 100 ms
                self.others_peak = max(self.others_peak, self._others_rss())
            ticks += 1
            time.sleep(0.01)

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        return (self.peak - self.baseline) / MB, (self.others_peak - self.others_baseline) / MB


def main() -> None:
    from sqlalchemy import select, text

    from core.db import db
    from models import Message
    from services import contacts, media, messages
    from services.phones import check_number
    from tests.fixtures.simulator import start_simulator, stop_simulator
    from tests.fixtures.worker import forget_session, launch_linked_worker, stop_workers

    prepare()
    client = redis_client()
    sim = start_simulator()
    session, size = "benchmedia", SIZE_MB * MB
    worker = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-media-") as tokens:
            forget_session(client, session)
            worker = launch_linked_worker(sim, Path(tokens), session, 0, client, SEND_MIN_INTERVAL_MS="100",
                                          SEND_JITTER_MS="0", LOG_LEVEL="WARNING",
                                          # the simulator's page turns the Blob into base64 JSON (several
                                          # copies of the file): keep the monitor from restarting it mid-send
                                          BROWSER_MEMORY_LIMIT_MB="6000")
            started = time.monotonic()
            stored = media.store(db, session_name=session, chunks=document_chunks(size, b"send"), kind="document",
                                 filename="bench.pdf", max_bytes=size)
            db.commit()
            seconds = time.monotonic() - started
            on_disk = db.execute(text("SELECT pg_total_relation_size('media_chunks')")).scalar()
            emit(BENCH, f"store_{SIZE_MB}mb_seconds", seconds, None, None, mb_per_s=round(SIZE_MB / seconds, 1),
                 table_on_disk_mb=round(on_disk / MB, 1))

            phone = check_number("393337770001", "IT")
            contacts.record_existence(db, phone.formatted, True)
            [queued] = messages.enqueue(db, session_name=session, phones=[phone], bodies=None, user_id=None,
                                        media=stored)
            sampler = Sampler(worker.process.pid, lambda: [p for p in worker.processes()
                                                           if p.pid != worker.process.pid])
            started = time.monotonic()
            db.commit()  # publishes the send
            worker.wait_for(lambda: db.scalar(select(Message.wa_message_id).where(Message.id == queued.id))
                            or db.rollback(), 600, "the 100 MB send")
            seconds = time.monotonic() - started
            growth, browser_growth = sampler.stop()
            [arrived] = [m for m in sim.messages() if m["type"] == "document"]
            with urllib.request.urlopen(f"{sim.url}/sim/page/media?id={urllib.parse.quote(arrived['id'])}") as got:
                digest = hashlib.sha256()
                while piece := got.read(MB):
                    digest.update(piece)
            exact = digest.hexdigest() == stored.sha256
            emit(BENCH, f"send_{SIZE_MB}mb_worker_peak_rss_growth_mb", growth, f"<{2 * SIZE_MB}",
                 growth < 2 * SIZE_MB and exact, ratio_to_file=round(growth / SIZE_MB, 3), seconds=round(seconds, 1),
                 chromium_peak_rss_growth_mb=round(browser_growth, 1), byte_exact=exact)

            payload = base64.b64encode(b"".join(document_chunks(size, b"receive"))).decode()
            expected = hashlib.sha256(base64.b64decode(payload)).hexdigest()
            sampler = Sampler(worker.process.pid, lambda: [p for p in worker.processes()
                                                           if p.pid != worker.process.pid])
            started = time.monotonic()
            sim.incoming("393337770002", type="document", media={"mimetype": "application/pdf", "data": payload,
                                                                 "filename": "in.pdf"})
            del payload
            media_id = worker.wait_for(lambda: db.scalar(select(Message.media_id).where(
                Message.phone_number == "393337770002")) or db.rollback(), 600, "the 100 MB download")
            seconds = time.monotonic() - started
            growth, browser_growth = sampler.stop()
            exact = db.scalar(select(media.Media.sha256).where(media.Media.id == media_id)) == expected
            emit(BENCH, f"receive_{SIZE_MB}mb_worker_peak_rss_growth_mb", growth, f"<{2 * SIZE_MB}",
                 growth < 2 * SIZE_MB and exact, ratio_to_file=round(growth / SIZE_MB, 3), seconds=round(seconds, 1),
                 chromium_peak_rss_growth_mb=round(browser_growth, 1), byte_exact=exact)
    finally:
        db.remove()
        if worker is not None:
            stop_workers([worker], client)
        stop_simulator(sim)


if __name__ == "__main__":
    main()
