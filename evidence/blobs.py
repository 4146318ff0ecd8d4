"""A content-addressed, write-once blob store: the home of evidence bodies and documents.

Workflow history only ever carries the sha256 names of what lives here. A blob is written to a
temporary file and renamed into place, so a crash never leaves a half-written blob under its name,
and writing the same content twice is a no-op (retried activities stay idempotent).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

_REF = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class StoreError(Exception):
    pass


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, ref: str) -> Path:
        if not _REF.match(ref):
            raise StoreError(f"not a sha256 reference: {ref!r}")
        return self.root / ref[:2] / ref[2:]

    def put_bytes(self, data: bytes) -> str:
        ref = hashlib.sha256(data).hexdigest()
        target = self.path(ref)
        if not target.exists():
            self._write(target, iter([data]))
        return ref

    def put_file(self, source: Path) -> str:
        digest = hashlib.sha256()
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
        ref = digest.hexdigest()
        target = self.path(ref)
        if not target.exists():
            with open(source, "rb") as fh:
                self._write(target, iter(lambda: fh.read(CHUNK), b""))
        return ref

    def _write(self, target: Path, chunks: Iterator[bytes]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)  # write-once: nothing edits a blob in place
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, ref: str) -> bytes:
        try:
            return self.path(ref).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"no blob {ref} in {self.root}") from None

    def get_text(self, ref: str) -> str:
        return self.get(ref).decode("utf-8")

    def exists(self, ref: str) -> bool:
        return self.path(ref).exists()

    def verify(self, ref: str) -> bool:
        """True when the blob's content still hashes to its name."""
        digest = hashlib.sha256()
        with open(self.path(ref), "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest() == ref
