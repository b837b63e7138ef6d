"""Write a source-only `vbaProject.bin` from VBA text ([MS-OVBA]).

The project has no p-code cache (`_VBA_PROJECT` version 0xFFFF, every MODULEOFFSET 0): Office
compiles the source on first open, exactly as it does for the templates xlwings ships. The module
streams hold the source compressed with the MS-OVBA §2.4.1 algorithm, written here from the spec
because `ms-ovba-compression` <= 1.0.1 computes the copy-token maximum length wrongly
(`0xFFFF << n + 3` instead of `(0xFFFF >> n) + 3`), which garbles any module over ~600 bytes.
The round trip is proven against oletools' independent decompressor in the tests.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from xl_ledger.xlsx.cfb import Storage
from xl_ledger.xlsx.cfb import write_compound_file

CODEPAGE = 1252
ENCODING = "cp1252"
CHUNK = 4096

STD, CLASS, DOCUMENT = "std", "class", "document"

# VB_Base of document modules: the Excel Workbook and Worksheet coclasses.
WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"
WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"

# References Excel writes into every project (besides the built-in VBA and Excel libraries).
# The Office library defines IRibbonControl, the type of ribbon callback arguments.
REFERENCES: tuple[tuple[str, str], ...] = (
    ("stdole", r"*\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\Windows\System32\stdole2.tlb#OLE Automation"),
    (
        "Office",
        r"*\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.8#0#C:\Program Files\Common Files\Microsoft Shared"
        r"\OFFICE16\MSO.DLL#Microsoft Office 16.0 Object Library",
    ),
)


# --------------------------------------------------------------------------------------------------
# MS-OVBA §2.4.1: compression


def _copy_token_help(difference: int) -> tuple[int, int]:
    """(bit count of the offset, maximum length) for a copy token at `difference` bytes into a chunk."""
    bit_count = max((difference - 1).bit_length(), 4)
    return bit_count, (0xFFFF >> bit_count) + 3


def _compress_chunk(data: bytes) -> bytes:
    out = bytearray()
    pos, end = 0, len(data)
    heads: dict[bytes, list[int]] = {}  # 3-byte prefix -> earlier positions in this chunk

    def remember(upto: int) -> None:
        for p in range(remember.done, upto):
            if p + 3 <= end:
                heads.setdefault(data[p : p + 3], []).append(p)
        remember.done = upto

    remember.done = 0  # type: ignore[attr-defined]

    while pos < end:
        flag_at = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= end:
                break
            remember(pos)
            best_len, best_off = 0, 0
            if pos > 0:
                bit_count, max_len = _copy_token_help(pos)
                limit = min(max_len, end - pos)
                # Newest candidates first; 256 of them is plenty for source text and keeps it linear.
                for cand in reversed(heads.get(data[pos : pos + 3], [])[-256:]):
                    length = 0
                    while length < limit and data[cand + length] == data[pos + length]:
                        length += 1  # may run past `pos`: overlapping copies are legal
                    if length > best_len:
                        best_len, best_off = length, pos - cand
                        if length == limit:
                            break
            if best_len >= 3:
                token = ((best_off - 1) << (16 - bit_count)) | (best_len - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                pos += best_len
            else:
                out.append(data[pos])
                pos += 1
        out[flag_at] = flags
    return bytes(out)


def compress(data: bytes) -> bytes:
    """MS-OVBA CompressedContainer for `data`."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        packed = _compress_chunk(chunk)
        if len(packed) <= CHUNK:
            out += struct.pack("<H", 0xB000 | (len(packed) + 2 - 3))  # flag=1, signature 0b011
            out += packed
        elif len(chunk) == CHUNK:
            out += struct.pack("<H", 0x3000 | 0x0FFF)  # raw chunk: flag=0, always 4096 bytes
            out += chunk
        else:  # a short final chunk cannot be stored raw; text never gets here
            raise ValueError("incompressible final chunk")
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# Modules


@dataclass(frozen=True)
class Module:
    name: str
    kind: str  # STD, CLASS or DOCUMENT
    code: str  # the stored text: Attribute lines first, CRLF line ends

    @property
    def stream_bytes(self) -> bytes:
        return compress(self.code.encode(ENCODING))


_CLASS_HEADER = re.compile(r"\AVERSION 1\.0 CLASS\r?\nBEGIN\r?\n.*?\r?\nEND\r?\n", re.S)


def stored_text(exported: str) -> str:
    """The text a module holds in the project, given a VBE export (.bas/.cls) of it.

    Export files differ from the stored text only by the `VERSION/BEGIN/END` block of classes and
    by their line ends.
    """
    text = _CLASS_HEADER.sub("", exported)
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def module_from_file(path: Path) -> Module:
    text = stored_text(path.read_text(encoding=ENCODING))
    match = re.match(r'Attribute VB_Name = "([^"]+)"', text)
    if not match:
        raise ValueError(f"{path} does not start with Attribute VB_Name")
    kind = CLASS if path.suffix.lower() == ".cls" else STD
    return Module(match.group(1), kind, text)


def document_module(name: str, base: str) -> Module:
    """An empty document module (ThisWorkbook or a sheet) with the attributes Excel stores."""
    lines = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "{base}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return Module(name, DOCUMENT, "\r\n".join(lines) + "\r\n")


# --------------------------------------------------------------------------------------------------
# Streams of the project (MS-OVBA §2.3)


def _rec(rec_id: int, payload: bytes) -> bytes:
    return struct.pack("<HI", rec_id, len(payload)) + payload


def _rec_pair(rec_id: int, mbcs: str, reserved: int, unicode_text: str | None = None) -> bytes:
    """A record with an MBCS string followed by its UTF-16 twin under a reserved id."""
    uni = mbcs if unicode_text is None else unicode_text
    return _rec(rec_id, mbcs.encode(ENCODING)) + _rec(reserved, uni.encode("utf-16-le"))


def _dir_stream(modules: list[Module], project_name: str) -> bytes:
    d = bytearray()
    d += _rec(0x0001, struct.pack("<I", 1))  # SYSKIND: 32-bit Windows
    d += _rec(0x0002, struct.pack("<I", 0x0409))  # LCID
    d += _rec(0x0014, struct.pack("<I", 0x0409))  # LCIDINVOKE
    d += _rec(0x0003, struct.pack("<H", CODEPAGE))
    d += _rec(0x0004, project_name.encode(ENCODING))
    d += _rec_pair(0x0005, "", 0x0040)  # DOCSTRING
    d += _rec(0x0006, b"") + _rec(0x003D, b"")  # HELPFILEPATH 1 and 2
    d += _rec(0x0007, struct.pack("<I", 0))  # HELPCONTEXT
    d += _rec(0x0008, struct.pack("<I", 0))  # LIBFLAGS
    d += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # VERSION: reserved size 4, major 1, minor 0
    d += _rec_pair(0x000C, "", 0x003C)  # CONSTANTS
    for name, libid in REFERENCES:
        d += _rec_pair(0x0016, name, 0x003E)
        raw = libid.encode(ENCODING)
        d += _rec(0x000D, struct.pack("<I", len(raw)) + raw + struct.pack("<IH", 0, 0))
    d += _rec(0x000F, struct.pack("<H", len(modules)))
    d += _rec(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for m in modules:
        d += _rec(0x0019, m.name.encode(ENCODING))
        d += _rec(0x0047, m.name.encode("utf-16-le"))
        d += _rec_pair(0x001A, m.name, 0x0032)  # stream name = module name
        d += _rec_pair(0x001C, "", 0x0048)  # DOCSTRING
        d += _rec(0x0031, struct.pack("<I", 0))  # OFFSET 0: source only, no p-code
        d += _rec(0x001E, struct.pack("<I", 0))  # HELPCONTEXT
        d += _rec(0x002C, struct.pack("<H", 0xFFFF))  # COOKIE
        d += _rec(0x0021 if m.kind == STD else 0x0022, b"")  # procedural vs document/class
        d += _rec(0x002B, b"")  # module terminator
    d += _rec(0x0010, b"")  # dir terminator
    return bytes(d)


def encrypt(data: bytes, project_id: str, seed: int) -> str:
    """MS-OVBA §2.4.3.2 Data Encryption (the obfuscation of CMG/DPB/GC), as hex text.

    `seed` is fixed by the caller so the output is reproducible.
    """
    version = 2
    proj_key = sum(project_id.encode(ENCODING)) & 0xFF
    out = bytearray([seed, seed ^ version, seed ^ proj_key])
    unenc1, enc1, enc2 = proj_key, seed ^ proj_key, seed ^ version
    ignored = [0] * ((seed & 6) // 2)
    for byte in ignored + list(struct.pack("<I", len(data))) + list(data):
        enc = byte ^ ((enc2 + unenc1) & 0xFF)
        out.append(enc)
        enc2, enc1, unenc1 = enc1, enc, byte
    return out.hex().upper()


def decrypt(text: str, project_id: str) -> bytes:
    """Inverse of `encrypt` (used by the tests and handy when inspecting files Excel wrote)."""
    raw = bytes.fromhex(text)
    seed, version_enc, proj_key_enc = raw[0], raw[1], raw[2]
    if seed ^ version_enc != 2:
        raise ValueError("not an MS-OVBA encrypted value")
    unenc1, enc1, enc2 = seed ^ proj_key_enc, proj_key_enc, version_enc
    plain = []
    for enc in raw[3:]:
        byte = enc ^ ((enc2 + unenc1) & 0xFF)
        plain.append(byte)
        enc2, enc1, unenc1 = enc1, enc, byte
    skip = (seed & 6) // 2
    length = struct.unpack("<I", bytes(plain[skip : skip + 4]))[0]
    data = bytes(plain[skip + 4 :])
    if len(data) != length:
        raise ValueError("length mismatch")
    return data


def _project_stream(modules: list[Module], project_name: str, project_id: str) -> bytes:
    lines = [f'ID="{project_id}"']
    for m in modules:
        if m.kind == DOCUMENT:
            lines.append(f"Document={m.name}/&H00000000")
        elif m.kind == CLASS:
            lines.append(f"Class={m.name}")
        else:
            lines.append(f"Module={m.name}")
    lines += [
        f'Name="{project_name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        # Not locked (4 zero bytes), no password (one zero byte), visible (0xFF).
        f'CMG="{encrypt(bytes(4), project_id, 0x11)}"',
        f'DPB="{encrypt(bytes(1), project_id, 0x13)}"',
        f'GC="{encrypt(bytes([0xFF]), project_id, 0x15)}"',
        "",
        "[Host Extender Info]",
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
        "",
    ]
    return "\r\n".join(lines).encode(ENCODING)


def _project_wm(modules: list[Module]) -> bytes:
    out = bytearray()
    for m in modules:
        out += m.name.encode(ENCODING) + b"\0" + m.name.encode("utf-16-le") + b"\0\0"
    return bytes(out + b"\0\0")


def build_vba_project(
    modules: list[Module],
    project_name: str = "VBAProject",
    project_id: str = "{5A3C1E2B-7D4F-4C6A-9B8E-0F1D2C3B4A59}",
) -> bytes:
    """The bytes of `xl/vbaProject.bin` holding `modules`, in the given order."""
    names = [m.name for m in modules]
    if len(set(n.lower() for n in names)) != len(names):
        raise ValueError(f"duplicate module names: {names}")
    vba = Storage(
        {
            # Reserved1 0x61CC, Version 0xFFFF (no performance cache), Reserved2 0x00, Reserved3 0x0001:
            # the same 7 bytes as the templates xlwings ships.
            "_VBA_PROJECT": bytes.fromhex("CC61FFFF000100"),
            "dir": compress(_dir_stream(modules, project_name)),
            **{m.name: m.stream_bytes for m in modules},
        }
    )
    root = Storage(
        {
            "VBA": vba,
            "PROJECT": _project_stream(modules, project_name, project_id),
            "PROJECTwm": _project_wm(modules),
        }
    )
    return write_compound_file(root)
