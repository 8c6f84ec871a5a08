"""Generates the Tally stubs from proto/ with grpcio-tools and makes them importable.

A real service would generate them once at build time (`buf generate`, see buf.gen.yaml) and ship
them; the example makes them fresh on every start so that it always speaks the contract of the
checkout it runs from.
"""

from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_DIR = Path(os.environ.get("TALLY_PROTO_DIR", Path(__file__).resolve().parents[2] / "proto"))


def generate(out_dir: str | None = None) -> Path:
    """Writes tally/v1/*_pb2.py and *_pb2_grpc.py under out_dir (a temp dir by default)."""
    out = Path(out_dir or os.environ.get("TALLY_STUBS_DIR") or tempfile.mkdtemp(prefix="tally-stubs-"))
    out.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.glob("tally/v1/*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_DIR}/tally/v1")
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("grpc_tools.protoc failed to generate the stubs")
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return out
