#!/usr/bin/env python3
"""The Python reference pipeline of issue 7: what a competent integration script would do with
python-hl7 and sqlite3 to load the same HL7 v2 exports into the same SQLite snapshot as
`ingest --replay`.

    reference_pipeline.py --db SNAPSHOT.db --migrations DIR FILE_OR_DIR...

It creates a fresh snapshot from the repository's migrations (so the schema is the Rust one),
orders the `.hl7` files by export time (FHS-7, else BHS-7, else the first MSH-7), and for each
file: reads it, takes its sha256, records a duplicate when the same bytes were ingested before,
else frames it into messages, parses each with `hl7.parse`, maps it the way `src/parse/hl7/map/`
does, and writes the ledger row, every record (with the precedence upserts of
`src/store/write.rs`) and the rejects in one transaction. At the end it prints one JSON line with
the counts and the rates.

Times without an offset are read in `--time-zone` (default America/Chicago) and stored as
RFC 3339 UTC with whole seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
from hl7.util import unescape

# --------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------

TS_FORMAT = "expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-HHMM]"
DIGITS = re.compile(r"[0-9]*")


class Fault(Exception):
    """Why one message is rejected: the segment (and field) at fault when known, and why."""

    def __init__(self, segment: str | None, reason: str):
        super().__init__(reason)
        self.segment = segment
        self.reason = reason


def _invalid(value: str, why: str) -> ValueError:
    return ValueError(f"invalid timestamp {json.dumps(value)}: {why}")


def read_ts(value: str) -> tuple[datetime, timezone | None] | None:
    """An HL7 TS/DTM of any precision: the wall-clock time and its offset, if it has one.
    Raises ValueError (with the Rust side's wording) when the value is not a valid time."""
    value = value.strip()
    if not value:
        return None
    cut = min((i for i in (value.find("+"), value.find("-")) if i >= 0), default=-1)
    body, offset = (value[:cut], value[cut:]) if cut >= 0 else (value, None)
    digits, _, fraction = body.partition(".")
    has_fraction = "." in body
    if not DIGITS.fullmatch(digits) or len(digits) not in (4, 6, 8, 10, 12, 14):
        raise _invalid(value, TS_FORMAT)
    micros = 0
    if has_fraction:
        if len(digits) != 14 or not 1 <= len(fraction) <= 4 or not DIGITS.fullmatch(fraction):
            raise _invalid(value, TS_FORMAT)
        micros = int(fraction.ljust(6, "0"))

    def part(at: int, default: int) -> int:
        return int(digits[at : at + 2]) if len(digits) >= at + 2 else default

    year, month, day = int(digits[:4]), part(4, 1), part(6, 1)
    hour, minute, second = part(8, 0), part(10, 0), part(12, 0)
    if not 1 <= month <= 12:
        raise _invalid(value, f"month {month} out of range")
    try:
        date(year, month, day)
    except ValueError:
        raise _invalid(value, f"day {day} out of range for {year:04}-{month:02}") from None
    for name, v, top in (("hour", hour, 23), ("minute", minute, 59), ("second", second, 59)):
        if v > top:
            raise _invalid(value, f"{name} {v} out of range")
    tz = None
    if offset is not None:
        if len(offset) != 5 or not DIGITS.fullmatch(offset[1:]):
            raise _invalid(value, TS_FORMAT)
        hours, minutes = int(offset[1:3]), int(offset[3:])
        if hours > 14 or minutes > 59:
            raise _invalid(value, f"offset {offset} out of range")
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime(year, month, day, hour, minute, second, micros), tz


def to_utc(value: str, zone: ZoneInfo) -> datetime | None:
    """An HL7 time as UTC; without an offset it is a wall-clock time in `zone` (an ambiguous
    time is the earlier instant, a time in a spring-forward gap is read with the offset before
    the gap: fold=0, which is what the Rust side does too)."""
    read = read_ts(value)
    if read is None:
        return None
    wall_clock, tz = read
    return wall_clock.replace(tzinfo=tz or zone).astimezone(timezone.utc)


def rfc3339(t: datetime | None) -> str | None:
    """The one stored form: RFC 3339 UTC, whole seconds."""
    if t is None:
        return None
    return (
        f"{t.year:04}-{t.month:02}-{t.day:02}T{t.hour:02}:{t.minute:02}:{t.second:02}Z"
    )


# --------------------------------------------------------------------------------------------
# Framing: bytes → text → messages (python-hl7 has batch parsing, but it raises on the first
# odd line and does not keep line numbers, so the file is split here, one message per MSH).
# --------------------------------------------------------------------------------------------

BATCH_IDS = ("FHS", "BHS", "BTS", "FTS")
SEGMENT_START = re.compile(r"[A-Z0-9]{3}")
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def starts_with_id(line: str, seg_id: str) -> bool:
    return line.startswith(seg_id) and (len(line) == 3 or not line[3].isalnum())


@dataclass
class FramedMessage:
    line: int  # 1-based line where it starts
    segments: list[str]
    raw_lines: list[str]

    @property
    def has_msh(self) -> bool:
        return starts_with_id(self.segments[0], "MSH")


@dataclass
class Framed:
    batch: list[str] = field(default_factory=list)
    messages: list[FramedMessage] = field(default_factory=list)


def decode_text(data: bytes) -> str:
    """UTF-8 when it is, else Windows-1252; BOM and MLLP block bytes dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\x0b", "").replace("\x1c", "")


def frame(text: str) -> Framed:
    """Segments end with CR, LF or CRLF; FHS/BHS/BTS/FTS are set apart; each MSH starts a
    message; a line that does not start with a segment id continues the previous segment (a
    hard-wrapped line is glued back as it is)."""
    framed = Framed()
    open_ = None  # what a continuation line continues: None, "batch" or "message"
    separator = "|"
    for number, line in enumerate(LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        if open_ is None:
            line = line.lstrip()
        if any(starts_with_id(line, i) for i in BATCH_IDS):
            framed.batch.append(line)
            open_ = "batch"
            continue
        has_id = SEGMENT_START.match(line) is not None
        after_id = line[3:4]  # "" at the end of the line
        if open_ == "message" and not starts_with_id(line, "MSH"):
            message = framed.messages[-1]
            message.raw_lines.append(line)
            if has_id and after_id in ("", separator):
                message.segments.append(line)
            else:
                message.segments[-1] += line
        elif open_ == "batch" and not (has_id and (after_id == "" or not after_id.isalnum())):
            framed.batch[-1] += line
        else:
            if starts_with_id(line, "MSH"):
                separator = line[3] if len(line) > 3 else "|"
            elif has_id and after_id and not after_id.isalnum():
                separator = after_id
            else:
                separator = "|"
            framed.messages.append(FramedMessage(number, [line], [line]))
            open_ = "message"
    return framed


def header_field(segment: str, n: int) -> str | None:
    """Field n (from 2) of an MSH/FHS/BHS segment, first component, as written."""
    if len(segment) < 4:
        return None
    sep = segment[3]
    parts = segment.split(sep)
    if n - 1 >= len(parts):
        return None
    value = parts[n - 1]
    if len(segment) > 4 and segment[4] != sep:
        value = value.split(segment[4])[0]
    return value or None


def exported_at(framed: Framed, zone: ZoneInfo) -> tuple[datetime, str] | None:
    """FHS-7, else BHS-7, else MSH-7 of the first message: the first that is a valid time."""

    def valid(value: str | None) -> datetime | None:
        try:
            return to_utc(value, zone) if value else None
        except ValueError:
            return None

    for seg_id in ("FHS", "BHS"):
        for segment in framed.batch:
            if segment.startswith(seg_id):
                t = valid(header_field(segment, 7))
                if t is not None:
                    return t, f"{seg_id}-7"
    first_msh = next((m for m in framed.messages if m.has_msh), None)
    if first_msh is not None:
        t = valid(header_field(first_msh.segments[0], 7))
        if t is not None:
            return t, "MSH-7"
    return None


# --------------------------------------------------------------------------------------------
# Reading values from python-hl7's tree (Field → Repetition → Component → subcomponent)
# --------------------------------------------------------------------------------------------

# As `src/parse/hl7/escape.rs` decodes: \.br\ is a newline, highlighting (\H\ \N\) is dropped.
APP_MAP = {".br": "\n", "H": "", "N": ""}
NULL = '""'


def seg_id(segment) -> str:
    return str(segment[0])


def raw(segment, fld: int, comp: int = 1, rep: int = 1, sub: int = 1) -> str:
    """The value at FIELD.REP.COMP.SUB as written (1-based; MSH-n is segment[n] in python-hl7)."""
    if fld <= 0 or fld >= len(segment):
        return ""
    f = segment[fld]
    if not f:
        return ""
    if isinstance(f[0], str):  # no repetition, component or subcomponent separator in it
        return f[0] if rep == comp == sub == 1 else ""
    if rep > len(f):
        return ""
    r = f[rep - 1]
    if len(r) == 1 and isinstance(r[0], str):
        return r[0] if comp == sub == 1 else ""
    if comp > len(r):
        return ""
    c = r[comp - 1]
    if isinstance(c, str):
        return c if sub == 1 else ""
    return c[sub - 1] if sub <= len(c) else ""


def rep_count(segment, fld: int) -> int:
    if fld <= 0 or fld >= len(segment) or not segment[fld]:
        return 0
    f = segment[fld]
    return 1 if isinstance(f[0], str) else len(f)


def rep_raw(segment, fld: int, rep: int) -> str:
    """A whole repetition as written (components and all)."""
    f = segment[fld]
    return f[0] if isinstance(f[0], str) else str(f[rep - 1])


def decode(segment, text: str) -> str | None:
    """Escapes decoded and trimmed; None for empty and for the HL7 null `""`."""
    if text.strip() == NULL:
        return None
    text = unescape(segment, text, APP_MAP).strip()
    return text or None


def val(segment, fld: int, comp: int = 1, rep: int = 1, sub: int = 1) -> str | None:
    return decode(segment, raw(segment, fld, comp, rep, sub))


def line_text(segment, text: str) -> str:
    """A line of narrative text: decoded, trailing blanks dropped, empty or null a blank line."""
    if text.strip() == NULL:
        return ""
    return unescape(segment, text, APP_MAP).rstrip(" \t")


def first(segments, wanted: str):
    return next((s for s in segments if seg_id(s) == wanted), None)


@dataclass
class Coded:
    code: str | None = None
    text: str | None = None
    system: str | None = None

    def display(self) -> str | None:
        return self.text or self.code


def coded(segment, fld: int, rep: int = 1) -> Coded:
    """CE/CWE/CNE: the primary triplet, else the alternate; a lone 'code' with spaces is text."""
    chosen = Coded(val(segment, fld, 1, rep), val(segment, fld, 2, rep), val(segment, fld, 3, rep))
    if chosen.code is None and chosen.text is None:
        alternate = Coded(val(segment, fld, 4, rep), val(segment, fld, 5, rep), val(segment, fld, 6, rep))
        if alternate.code is not None or alternate.text is not None:
            chosen = alternate
    if chosen.text is None and chosen.system is None and chosen.code and any(c.isspace() for c in chosen.code):
        return Coded(text=chosen.code)
    return chosen


def person(segment, fld: int, rep: int) -> str | None:
    """XCN (or the CNN of an NDL, in subcomponents) as `Family, Given`, else `Family`, else the id."""
    nested = val(segment, fld, 1, rep, 2) is not None or val(segment, fld, 1, rep, 3) is not None

    def part(n: int) -> str | None:
        return val(segment, fld, 1, rep, n) if nested else val(segment, fld, n, rep)

    family, given = part(2), part(3)
    if family and given:
        return f"{family}, {given}"
    return family or part(1)


def person_field(segment, fld: int) -> str | None:
    for rep in range(1, rep_count(segment, fld) + 1):
        name = person(segment, fld, rep)
        if name:
            return name
    return None


# --------------------------------------------------------------------------------------------
# Records (src/model.rs)
# --------------------------------------------------------------------------------------------


@dataclass
class Identifier:
    value: str
    id_type: str | None
    authority: str | None

    @property
    def system(self) -> str:
        return f"{self.authority or '-'}/{self.id_type or '-'}"


@dataclass
class Patient:
    mrn: str
    identifiers: list[Identifier]
    family_name: str | None
    given_name: str | None
    birth_date: date | None
    sex: str | None
    registration: bool


JOIN, LEAVE, UPDATE, CANCEL_ADMIT, CANCEL_DISCHARGE = "join", "leave", "update", "cancel_admit", "cancel_discharge"


@dataclass
class PanelEvent:
    mrn: str
    action: str
    event: str
    event_at: datetime | None
    location: str | None
    attending: str | None
    visit_number: str | None
    admitted_at: datetime | None
    discharged_at: datetime | None


@dataclass
class Observation:
    mrn: str
    order_id: str
    code: str
    code_system: str | None
    name: str | None
    value_type: str | None
    value: str | None
    numeric_value: float | None
    unit: str | None
    reference_range: str | None
    abnormal_flag: str | None
    status: str | None
    observed_at: datetime | None
    resulted_at: datetime | None


@dataclass
class ObservationRemoval:
    mrn: str
    order_id: str
    code: str
    observed_at: datetime | None


@dataclass
class Allergy:
    mrn: str
    code: str | None
    code_system: str | None
    allergen: str
    allergy_type: str | None
    severity: str | None
    reaction: str | None
    identified_at: datetime | None


@dataclass
class Problem:
    mrn: str
    code: str | None
    code_system: str | None
    description: str
    status: str | None
    onset_at: datetime | None
    resolved_at: datetime | None
    origin: str  # diagnosis | problem_list
    deleted: bool


@dataclass
class Medication:
    mrn: str
    order_id: str
    name: str
    code: str | None
    code_system: str | None
    dose: str | None
    route: str | None
    frequency: str | None
    status: str | None
    start_at: datetime | None
    end_at: datetime | None


@dataclass
class Document:
    mrn: str
    document_id: str
    parent_id: str | None
    doc_type: str | None
    title: str | None
    authored_at: datetime | None
    author: str | None
    status: str | None
    event: str
    text: str


# --------------------------------------------------------------------------------------------
# Mapping (src/parse/hl7/map/*.rs)
# --------------------------------------------------------------------------------------------


class Mapper:
    def __init__(self, zone: ZoneInfo, mrn_type: str = "MR"):
        self.zone = zone
        self.mrn_type = mrn_type

    # Shared -----------------------------------------------------------------------------------

    def instant(self, segment, fld: int, comp: int = 1) -> datetime | None:
        value = val(segment, fld, comp)
        if value is None:
            return None
        try:
            return to_utc(value, self.zone)
        except ValueError as e:
            place = f"{seg_id(segment)}-{fld}" if comp == 1 else f"{seg_id(segment)}-{fld}.{comp}"
            raise Fault(place, str(e)) from None

    def date(self, segment, fld: int) -> date | None:
        value = val(segment, fld)
        if value is None:
            return None
        try:
            read = read_ts(value)
        except ValueError as e:
            raise Fault(f"{seg_id(segment)}-{fld}", str(e)) from None
        return read[0].date() if read else None

    def patient(self, pid, registration: bool) -> Patient:
        identifiers = []
        for rep in range(1, rep_count(pid, 3) + 1):
            value = val(pid, 3, 1, rep)
            if value is not None:
                identifiers.append(Identifier(value, val(pid, 3, 5, rep), val(pid, 3, 4, rep)))
        chosen = next((i for i in identifiers if i.id_type == self.mrn_type), identifiers[0] if identifiers else None)
        if chosen is None:
            raise Fault("PID-3", "no usable MRN: PID-3 has no identifier")
        return Patient(
            mrn=chosen.value,
            identifiers=identifiers,
            family_name=val(pid, 5, 1),
            given_name=val(pid, 5, 2),
            birth_date=self.date(pid, 7),
            sex=val(pid, 8),
            registration=registration,
        )

    def mentioned_patient(self, segments) -> Patient:
        pid = first(segments, "PID")
        if pid is None:
            raise Fault("PID", "no PID segment")
        return self.patient(pid, registration=False)

    def narrative(self, obx) -> str | None:
        value_type = val(obx, 2)
        if value_type in ("TX", "FT", "ST"):
            return "\n".join(line_text(obx, rep_raw(obx, 5, r)) for r in range(1, rep_count(obx, 5) + 1))
        if value_type == "ED":
            return "\n".join(self.encapsulated(obx, r) for r in range(1, rep_count(obx, 5) + 1))
        return None

    @staticmethod
    def encapsulated(obx, rep: int) -> str:
        kind = "/".join(k for k in (val(obx, 5, 2, rep), val(obx, 5, 3, rep)) if k) or "unknown"
        data = raw(obx, 5, 5, rep)
        significant = sum(1 for c in data if not c.isspace())
        encoding = (val(obx, 5, 4, rep) or "").upper()
        if encoding == "BASE64":
            padding = min(len(data.rstrip()) - len(data.rstrip().rstrip("=")), 2)
            size = max(significant * 3 // 4 - padding, 0)
        elif encoding == "HEX":
            size = significant // 2
        else:
            size = significant
        return f"[encapsulated {kind} data, {size} bytes, not decoded]"

    # One message ------------------------------------------------------------------------------

    def map(self, message, control_id: str | None) -> tuple[str, list]:
        segments = list(message)
        msh = segments[0]
        kind = val(msh, 9, 1)
        if kind is None:
            raise Fault("MSH-9", "no message type (MSH-9 is empty)")
        trigger = val(msh, 9, 2)
        if trigger is None:
            evn = first(segments, "EVN")
            trigger = val(evn, 1) if evn is not None else None
        message_type = f"{kind}^{trigger}" if trigger else kind
        if kind == "ADT":
            records = self.adt(segments, msh, trigger)
        elif kind == "ORU" and trigger == "R01":
            records = self.oru(segments, control_id)
        elif kind == "MDM" and trigger in MDM_TRIGGERS:
            records = self.mdm(segments, trigger, control_id)
        elif (kind, trigger) in PHARMACY:
            records = self.pharmacy(segments, control_id)
        elif kind == "PPR" and trigger in ("PC1", "PC2", "PC3"):
            records = self.ppr(segments)
        else:
            raise Fault("MSH-9", f"unsupported message type {message_type} (not mapped yet)")
        return message_type, records

    # ADT --------------------------------------------------------------------------------------

    def adt(self, segments, msh, trigger: str | None) -> list:
        pid = first(segments, "PID")
        if pid is None:
            raise Fault("PID", "no PID segment")
        patient = self.patient(pid, registration=True)
        records: list = [patient]
        action = ADT_ACTIONS.get(trigger)
        if action is not None:
            evn, pv1 = first(segments, "EVN"), first(segments, "PV1")
            event_at = self.instant(evn, 2) if evn is not None else None
            if event_at is None:
                event_at = self.instant(msh, 7)
            location = None
            if pv1 is not None:
                parts = [p for p in (val(pv1, 3, 1), val(pv1, 3, 2), val(pv1, 3, 3)) if p]
                location = "-".join(parts) or None
            records.append(
                PanelEvent(
                    mrn=patient.mrn,
                    action=action,
                    event=trigger,
                    event_at=event_at,
                    location=location,
                    attending=person_field(pv1, 7) if pv1 is not None else None,
                    visit_number=val(pv1, 19) if pv1 is not None else None,
                    admitted_at=self.instant(pv1, 44) if pv1 is not None else None,
                    discharged_at=self.instant(pv1, 45) if pv1 is not None else None,
                )
            )
        for segment in segments:
            sid = seg_id(segment)
            if sid == "AL1":
                allergy = self.allergy(segment, patient.mrn)
                if allergy is not None:
                    records.append(allergy)
            elif sid == "DG1":
                diagnosis = self.diagnosis(segment, patient.mrn)
                if diagnosis is not None:
                    records.append(diagnosis)
        return records

    def allergy(self, al1, mrn: str) -> Allergy | None:
        allergen = coded(al1, 3)
        name = allergen.text or allergen.code
        if name is None:
            return None
        reactions = [d for r in range(1, rep_count(al1, 5) + 1) if (d := coded(al1, 5, r).display())]
        return Allergy(
            mrn=mrn,
            code=allergen.code,
            code_system=allergen.system,
            allergen=name,
            allergy_type=val(al1, 2),
            severity=val(al1, 4),
            reaction="; ".join(reactions) or None,
            identified_at=self.instant(al1, 6),
        )

    def diagnosis(self, dg1, mrn: str) -> Problem | None:
        dx = coded(dg1, 3)
        description = dx.text or val(dg1, 4) or dx.code
        if description is None:
            return None
        system = dx.system or (val(dg1, 2) if dx.code else None)
        return Problem(
            mrn=mrn,
            code=dx.code,
            code_system=system,
            description=description,
            status=val(dg1, 6),
            onset_at=self.instant(dg1, 5),
            resolved_at=None,
            origin="diagnosis",
            deleted=False,
        )

    # ORU^R01 ----------------------------------------------------------------------------------

    def order(self, obr, control_id: str | None) -> dict:
        return {
            "id": val(obr, 3) or val(obr, 2) or (control_id or ""),
            "observed_at": self.instant(obr, 7),
            "resulted_at": self.instant(obr, 22),
            "title": val(obr, 4, 2),
            "service": val(obr, 4, 1),
            "interpreter": person_field(obr, 32),
        }

    @staticmethod
    def no_order(control_id: str | None) -> dict:
        return {"id": control_id or "", "observed_at": None, "resulted_at": None, "title": None,
                "service": None, "interpreter": None}

    def oru(self, segments, control_id: str | None) -> list:
        records: list = []
        mrn = None
        order = self.no_order(control_id)
        results: list = []
        for segment in segments:
            sid = seg_id(segment)
            if sid == "PID":
                if mrn is not None:
                    self.emit(results, mrn, order, records)
                    results = []
                patient = self.patient(segment, registration=False)
                mrn = patient.mrn
                records.append(patient)
                order = self.no_order(control_id)
            elif sid == "OBR":
                if mrn is not None:
                    self.emit(results, mrn, order, records)
                    results = []
                order = self.order(segment, control_id)
            elif sid == "OBX":
                if mrn is None:
                    raise Fault("PID", "no PID segment before OBX")
                results.append(segment)
        if mrn is None:
            raise Fault("PID", "no PID segment")
        self.emit(results, mrn, order, records)
        return records

    def emit(self, results, mrn: str, order: dict, records: list) -> None:
        """The records of the OBX segments under one OBR; TX/FT/ED lines of one OBX-3 and sub-id
        become one report document when there are several (or one long one, or it is ED)."""
        lines = []
        for obx in results:
            observation = coded(obx, 3)
            value_type = val(obx, 2)
            report = value_type in ("TX", "FT", "ED")
            code = observation.code or val(obx, 3, 1)
            if code is None:
                if not report:
                    raise Fault("OBX-3", "OBX without an observation code (OBX-3.1 is empty)")
                code = observation.text or order["service"] or "report"
            lines.append((obx, code, observation, val(obx, 4), value_type, report))
        groups: dict[tuple, list[int]] = {}
        for i, (_, code, _, sub_id, _, report) in enumerate(lines):
            if report:
                groups.setdefault((code, sub_id), []).append(i)
        reports = {}
        for group in groups.values():
            texts = [self.narrative(lines[i][0]) or "" for i in group]
            is_ed = any(lines[i][4] == "ED" for i in group)
            is_long = any("\n" in t and len(t) >= 200 for t in texts)
            if is_ed or len(group) > 1 or is_long:
                for i in group:
                    reports[i] = (group, texts)
        for i, (obx, code, observation, sub_id, value_type, _) in enumerate(lines):
            if i in reports:
                group, texts = reports[i]
                if group[0] == i:
                    records.append(self.report(obx, code, observation, sub_id, group, lines, texts, mrn, order))
                continue
            records.append(self.observation(obx, code, observation, value_type, mrn, order))

    def report(self, obx, code, observation: Coded, sub_id, group, lines, texts, mrn, order) -> Document:
        document_id = f"{order['id']}/{code}" + (f"/{sub_id}" if sub_id else "")
        authored_at = self.instant(obx, 14) or order["observed_at"]
        status = next((s for i in group if (s := val(lines[i][0], 11))), None)
        return Document(
            mrn=mrn,
            document_id=document_id,
            parent_id=None,
            doc_type=observation.text or order["title"],
            title=order["title"] or observation.text,
            authored_at=authored_at,
            author=order["interpreter"],
            status=status,
            event="ORU",
            text="\n".join(texts),
        )

    def observation(self, obx, code, observation: Coded, value_type, mrn, order):
        value, numeric_value = self.value(obx, value_type)
        flags = [f for r in range(1, rep_count(obx, 8) + 1) if (f := val(obx, 8, 1, r))]
        observed_at = self.instant(obx, 14) or order["observed_at"]
        obx_resulted_at = self.instant(obx, 19)
        status = val(obx, 11)
        if status in ("D", "X"):
            return ObservationRemoval(mrn, order["id"], code, observed_at)
        return Observation(
            mrn=mrn,
            order_id=order["id"],
            code=code,
            code_system=observation.system,
            name=observation.text,
            value_type=value_type,
            value=value,
            numeric_value=numeric_value,
            unit=val(obx, 6, 1) or val(obx, 6, 2),
            reference_range=val(obx, 7),
            abnormal_flag=",".join(flags) or None,
            status=status,
            observed_at=observed_at,
            resulted_at=order["resulted_at"] or obx_resulted_at,
        )

    def value(self, obx, value_type: str | None) -> tuple[str | None, float | None]:
        """OBX-5 as text (repetitions joined with `; `) and, for one plain number, as a number."""
        parts: list[tuple[str, float | None]] = []
        for r in range(1, rep_count(obx, 5) + 1):
            if value_type == "NM":
                text = decode(obx, rep_raw(obx, 5, r))
                if text is not None:
                    parts.append((text, number(text)))
            elif value_type in ("CE", "CWE", "CNE", "CF"):
                text = val(obx, 5, 2, r) or val(obx, 5, 1, r)
                if text is not None:
                    parts.append((text, None))
            elif value_type == "SN":
                comparator = val(obx, 5, 1, r)
                comparator = None if comparator == "=" else comparator
                n1, separator, n2 = val(obx, 5, 2, r), val(obx, 5, 3, r), val(obx, 5, 4, r)
                plain = number(n1) if comparator is None and n1 and separator is None and n2 is None else None
                text = "".join(p for p in (comparator, n1, separator, n2) if p)
                if text:
                    parts.append((text, plain))
            elif value_type == "DT":
                text = decode(obx, rep_raw(obx, 5, r))
                if text is not None:
                    parts.append((date_text(text) or text, None))
            elif value_type in ("TS", "DTM"):
                text = decode(obx, rep_raw(obx, 5, r))
                if text is not None:
                    parts.append((self.time_text(text) or text, None))
            elif value_type == "ED":
                parts.append((self.encapsulated(obx, r), None))
            else:
                text = decode(obx, rep_raw(obx, 5, r))
                if text is not None:
                    parts.append((text, None))
        if not parts:
            return None, None
        numeric = parts[0][1] if len(parts) == 1 else None
        return "; ".join(text for text, _ in parts), numeric

    def time_text(self, value: str) -> str | None:
        as_date = date_text(value)
        if as_date is not None:
            return as_date
        try:
            return rfc3339(to_utc(value, self.zone))
        except ValueError:
            return None

    # MDM --------------------------------------------------------------------------------------

    def mdm(self, segments, trigger: str, control_id: str | None) -> list:
        patient = self.mentioned_patient(segments)
        txa = first(segments, "TXA")
        if txa is None:
            raise Fault("TXA", "no TXA segment (document header)")
        document_id = val(txa, 12) or control_id
        if document_id is None:
            raise Fault("TXA-12", "no unique document number (TXA-12) and no message control id (MSH-10)")
        doc_type = coded(txa, 2)
        lines = [t for s in segments if seg_id(s) == "OBX" and (t := self.narrative(s)) is not None]
        document = Document(
            mrn=patient.mrn,
            document_id=document_id,
            parent_id=val(txa, 13),
            doc_type=doc_type.text or doc_type.code,
            title=doc_type.text or val(txa, 16),
            authored_at=self.instant(txa, 4) or self.instant(txa, 6),
            author=person_field(txa, 5) or person_field(txa, 9),
            status=val(txa, 17),
            event=trigger,
            text="\n".join(lines),
        )
        return [patient, document]

    # Pharmacy ---------------------------------------------------------------------------------

    def pharmacy(self, segments, control_id: str | None) -> list:
        patient = self.mentioned_patient(segments)
        groups: list[list] = []
        for segment in segments:
            sid = seg_id(segment)
            if sid == "ORC":
                groups.append([segment])
            elif sid in ORDER_SEGMENTS:
                if groups:
                    groups[-1].append(segment)
                else:
                    groups.append([segment])
        if not groups:
            raise Fault("ORC", "no order (no ORC or pharmacy segment)")
        return [patient] + [self.medication(g, n, patient.mrn, control_id) for n, g in enumerate(groups, 1)]

    def medication(self, group, n: int, mrn: str, control_id: str | None) -> Medication:
        orc = first(group, "ORC")
        order_id = (val(orc, 3) or val(orc, 2)) if orc is not None else None
        if order_id is None and control_id is not None:
            order_id = f"{control_id}/{n}"
        if order_id is None:
            raise Fault("ORC-3", "no order number (ORC-3, ORC-2) and no message control id (MSH-10)")
        drug = None
        for sid, fld in DRUG:
            segment = first(group, sid)
            if segment is not None:
                candidate = coded(segment, fld)
                if candidate.code or candidate.text:
                    drug = candidate
                    break
        if drug is None:
            raise Fault("ORC" if orc is not None else "RXO",
                        f"order {order_id} names no drug (RXE-2, RXO-1, RXD-2, RXA-5, RXG-4)")
        rxe = first(group, "RXE")
        tq1 = after_encoding(group, "TQ1")

        def old_tq(component: int) -> str | None:
            return (val(rxe, 1, component) if rxe is not None else None) or (
                val(orc, 7, component) if orc is not None else None)

        def first_time(*candidates) -> datetime | None:
            for segment, fld, comp in candidates:
                if segment is not None:
                    t = self.instant(segment, fld, comp)
                    if t is not None:
                        return t
            return None

        frequency = repeat_pattern(tq1) if tq1 is not None else None
        route = after_encoding(group, "RXR")
        return Medication(
            mrn=mrn,
            order_id=order_id,
            name=drug.display() or "",
            code=drug.code,
            code_system=drug.system,
            dose=dose(group),
            route=coded(route, 1).display() if route is not None else None,
            frequency=frequency or old_tq(2),
            status=order_status(orc) if orc is not None else None,
            start_at=first_time((tq1, 7, 1), (rxe, 1, 4), (orc, 7, 4), (orc, 15, 1)),
            end_at=first_time((tq1, 8, 1), (rxe, 1, 5), (orc, 7, 5)),
        )

    # PPR --------------------------------------------------------------------------------------

    def ppr(self, segments) -> list:
        patient = self.mentioned_patient(segments)
        problems = []
        for prb in (s for s in segments if seg_id(s) == "PRB"):
            problem = coded(prb, 3)
            description = problem.text or problem.code
            if description is None:
                raise Fault("PRB-3", "PRB without a problem (PRB-3 is empty)")
            problems.append(Problem(
                mrn=patient.mrn,
                code=problem.code,
                code_system=problem.system,
                description=description,
                status=coded(prb, 14).display(),
                onset_at=self.instant(prb, 16),
                resolved_at=self.instant(prb, 9),
                origin="problem_list",
                deleted=val(prb, 1) == "DE",
            ))
        if not problems:
            raise Fault("PRB", "no PRB segment (problem)")
        return [patient] + problems


ADT_ACTIONS = {
    "A01": JOIN, "A04": JOIN, "A03": LEAVE, "A02": UPDATE, "A08": UPDATE,
    "A11": CANCEL_ADMIT, "A13": CANCEL_DISCHARGE,
}
MDM_TRIGGERS = {f"T{n:02}" for n in range(1, 11)}
PHARMACY = {("RDE", "O11"), ("RDE", "O25"), ("RDS", "O13"), ("RAS", "O17"), ("OMP", "O09")}
ORDER_SEGMENTS = {"RXO", "RXE", "RXD", "RXA", "RXG", "RXR", "TQ1", "RXC"}
DRUG = (("RXE", 2), ("RXO", 1), ("RXD", 2), ("RXA", 5), ("RXG", 4))
DOSE = (("RXE", 3, 4, 5), ("RXO", 2, 3, 4), ("RXA", 6, 0, 7), ("RXG", 5, 6, 7))
ORDER_STATUS = {"CM": "completed", "DC": "discontinued", "CA": "cancelled", "HD": "held",
                "IP": "active", "SC": "active", "A": "active"}
ORDER_CONTROL = {
    **dict.fromkeys(("NW", "OK", "XO", "XR", "XX", "SC", "RL", "OE", "OR", "OP", "RO", "RP", "RQ", "RU",
                     "NA", "AF", "OF", "FU", "RF"), "active"),
    **dict.fromkeys(("DC", "OD", "DR"), "discontinued"),
    **dict.fromkeys(("CA", "OC", "CR"), "cancelled"),
    **dict.fromkeys(("HD", "OH", "HR"), "held"),
}


def number(text: str | None) -> float | None:
    """A plain decimal number (no `_` digit grouping, which Python's float() would accept)."""
    if not text or "_" in text:
        return None
    try:
        n = float(text)
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def date_text(value: str) -> str | None:
    """YYYY, YYYYMM or YYYYMMDD (a valid date) as YYYY, YYYY-MM or YYYY-MM-DD."""
    if not DIGITS.fullmatch(value) or len(value) not in (4, 6, 8):
        return None
    try:
        read_ts(value)
    except ValueError:
        return None
    return "-".join((value[:4], value[4:6], value[6:8])[: len(value) // 2 - 1])


def after_encoding(group, wanted: str):
    """RXR/TQ1 may come for the order and for the pharmacy's encoding: the later one wins."""
    ids = [seg_id(s) for s in group]
    at = next((i for i, sid in enumerate(ids) if sid in ("RXE", "RXD", "RXA", "RXG")), None)
    if at is not None:
        later = first(group[at:], wanted)
        if later is not None:
            return later
    return first(group, wanted)


def repeat_pattern(tq1) -> str | None:
    codes = [c for r in range(1, rep_count(tq1, 3) + 1) if (c := val(tq1, 3, 1, r, 1) or val(tq1, 3, 1, r, 2))]
    return ", ".join(codes) or None


def dose(group) -> str | None:
    for sid, minimum, maximum, units_field in DOSE:
        segment = first(group, sid)
        if segment is None:
            continue
        amount = val(segment, minimum)
        if amount is None:
            continue
        top = val(segment, maximum) if maximum else None
        if top is not None and top != amount:
            amount = f"{amount}-{top}"
        units = coded(segment, units_field)
        if units.code is not None and units.code.isascii() and units.code.isdigit():
            shown = units.text or units.code
        else:
            shown = units.code or units.text
        return f"{amount} {shown}" if shown else amount
    return None


def order_status(orc) -> str | None:
    status = ORDER_STATUS.get(val(orc, 5) or "")
    return status or ORDER_CONTROL.get(val(orc, 1) or "")


# --------------------------------------------------------------------------------------------
# Store (src/store/write.rs): the same statements, the same precedence
# --------------------------------------------------------------------------------------------


def fresher(t: str, col: str) -> str:
    return (f"{col} = CASE WHEN excluded.exported_at >= {t}.exported_at THEN coalesce(excluded.{col}, {t}.{col}) "
            f"ELSE coalesce({t}.{col}, excluded.{col}) END")


def replaced(t: str, col: str) -> str:
    return f"{col} = CASE WHEN excluded.exported_at >= {t}.exported_at THEN excluded.{col} ELSE {t}.{col} END"


def provenance(t: str) -> str:
    return (f"source_file_id = CASE WHEN excluded.exported_at >= {t}.exported_at THEN excluded.source_file_id "
            f"ELSE {t}.source_file_id END, ingested_at = CASE WHEN excluded.exported_at >= {t}.exported_at "
            f"THEN excluded.ingested_at ELSE {t}.ingested_at END, exported_at = max({t}.exported_at, excluded.exported_at)")


REGISTRATION_WINS = ("(excluded.registered = 1 AND (patients.registered = 0 "
                     "OR excluded.exported_at >= patients.exported_at))")


def demographics(col: str) -> str:
    return (f"{col} = CASE WHEN {REGISTRATION_WINS} THEN coalesce(excluded.{col}, patients.{col}) "
            f"ELSE coalesce(patients.{col}, excluded.{col}) END")


def demographics_keep(col: str) -> str:
    return f"{col} = CASE WHEN {REGISTRATION_WINS} THEN excluded.{col} ELSE patients.{col} END"


def upsert(insert: str, conflict: str, updates: list[str]) -> str:
    return f"{insert} ON CONFLICT ({conflict}) DO UPDATE SET " + ", ".join(updates)


SQL_FIND_INGESTED = ("SELECT id FROM source_files WHERE sha256 = ?1 AND status IN ('ingested', 'ingested_with_rejects') "
                     "ORDER BY id LIMIT 1")
SQL_LEDGER = """INSERT INTO source_files (source, path, size, mtime, sha256, kind, exported_at, exported_at_origin,
    received_at, ingested_at, status, duplicate_of, messages, records, rejects, error, disposition)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 'replayed in place')"""
SQL_REJECT = """INSERT INTO rejects (source_file_id, message_index, line, control_id, segment, reason, raw)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"""
SQL_PATIENT_ID = "SELECT id FROM patients WHERE mrn = ?1"
SQL_PATIENT = upsert(
    """INSERT INTO patients (mrn, family_name, given_name, birth_date, sex, registered, source_file_id,
        exported_at, ingested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)""",
    "mrn",
    [demographics("family_name"), demographics("given_name"), demographics("birth_date"), demographics("sex"),
     demographics_keep("source_file_id"), demographics_keep("exported_at"), demographics_keep("ingested_at"),
     "registered = max(patients.registered, excluded.registered)"],
) + " RETURNING id"
SQL_IDENTIFIER = upsert(
    """INSERT INTO patient_identifiers (patient_id, system, value, id_type, authority, source_file_id, exported_at,
        ingested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)""",
    "patient_id, system, value",
    [provenance("patient_identifiers")],
)
SQL_PANEL = upsert(
    """INSERT INTO panel (source, patient_id, active, location, attending, visit_number, admitted_at,
        discharged_at, last_event, last_event_at, source_file_id, exported_at, ingested_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)""",
    "source, patient_id",
    [fresher("panel", "active"), fresher("panel", "location"), fresher("panel", "attending"),
     fresher("panel", "visit_number"),
     # A fresher cancelled admission (A11) clears the admission time.
     "admitted_at = CASE WHEN excluded.exported_at >= panel.exported_at AND ?14 THEN NULL ELSE "
     "CASE WHEN excluded.exported_at >= panel.exported_at THEN coalesce(excluded.admitted_at, panel.admitted_at) "
     "ELSE coalesce(panel.admitted_at, excluded.admitted_at) END END",
     # A fresher admission starts a new stay: the old discharge no longer applies.
     "discharged_at = CASE WHEN excluded.exported_at >= panel.exported_at AND excluded.active = 1 "
     "THEN excluded.discharged_at ELSE "
     "CASE WHEN excluded.exported_at >= panel.exported_at THEN coalesce(excluded.discharged_at, panel.discharged_at) "
     "ELSE coalesce(panel.discharged_at, excluded.discharged_at) END END",
     fresher("panel", "last_event"), fresher("panel", "last_event_at"), provenance("panel")],
)
SQL_OBSERVATION = upsert(
    """INSERT INTO observations (patient_id, order_id, code, code_system, name, value_type, value, numeric_value,
        unit, reference_range, abnormal_flag, status, observed_at, resulted_at, source_file_id, exported_at,
        ingested_at, first_exported_at, deleted)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?16, 0)""",
    "patient_id, order_id, code, observed_at",
    ["first_exported_at = min(observations.first_exported_at, excluded.first_exported_at)"]
    + [replaced("observations", c) for c in ("code_system", "name", "value_type", "value", "numeric_value", "unit",
                                             "reference_range", "abnormal_flag", "status", "resulted_at", "deleted")]
    + [provenance("observations")],
)
SQL_OBSERVATION_REMOVAL = upsert(
    """INSERT INTO observations (patient_id, order_id, code, observed_at, status, deleted, source_file_id,
        exported_at, ingested_at, first_exported_at) VALUES (?1, ?2, ?3, ?4, 'D', 1, ?5, ?6, ?7, ?6)""",
    "patient_id, order_id, code, observed_at",
    ["first_exported_at = min(observations.first_exported_at, excluded.first_exported_at)",
     replaced("observations", "status"), replaced("observations", "deleted"), provenance("observations")],
)
SQL_ALLERGY = upsert(
    """INSERT INTO allergies (patient_id, allergen_key, code, code_system, allergen, allergy_type, severity,
        reaction, identified_at, source_file_id, exported_at, ingested_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)""",
    "patient_id, allergen_key",
    [fresher("allergies", c) for c in ("code_system", "allergen", "allergy_type", "severity", "reaction",
                                       "identified_at")] + [provenance("allergies")],
)
SQL_PROBLEM = upsert(
    """INSERT INTO problems (patient_id, problem_key, code, code_system, description, status, onset_at,
        resolved_at, origin, deleted, source_file_id, exported_at, ingested_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)""",
    "patient_id, problem_key",
    [fresher("problems", c) for c in ("code_system", "description", "status", "onset_at", "resolved_at")]
    + [replaced("problems", "origin"), replaced("problems", "deleted"), provenance("problems")],
)
SQL_MEDICATION = upsert(
    """INSERT INTO medications (patient_id, order_id, name, code, code_system, dose, route, frequency, status,
        start_at, end_at, source_file_id, exported_at, ingested_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)""",
    "patient_id, order_id",
    [fresher("medications", c) for c in ("name", "code", "code_system", "dose", "route", "frequency", "status",
                                         "start_at", "end_at")] + [provenance("medications")],
)
SQL_DOCUMENT = upsert(
    """INSERT INTO documents (patient_id, document_id, parent_id, doc_type, title, authored_at, author, status,
        event, text, replaced_by, first_exported_at, source_file_id, exported_at, ingested_at,
        page_count, text_status, sha256, text_error)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
        (SELECT document_id FROM documents WHERE parent_id = ?2 AND event = 'T10' LIMIT 1),
        ?12, ?11, ?12, ?13, ?14, ?15, ?16, ?17)""",
    "document_id",
    [fresher("documents", c) for c in ("parent_id", "doc_type", "title", "authored_at", "author", "status",
                                       "page_count", "text_status", "sha256")]
    + [replaced("documents", "text_error"),
       # A status change (T04) carries no text: the text stays.
       "text = CASE WHEN excluded.exported_at >= documents.exported_at AND excluded.text != '' "
       "THEN excluded.text ELSE documents.text END",
       replaced("documents", "event"),
       "first_exported_at = min(documents.first_exported_at, excluded.first_exported_at)",
       provenance("documents")],
)
SQL_REPLACED_BY = "UPDATE documents SET replaced_by = ?2 WHERE document_id = ?1"


class Writer:
    """Writes one file's records inside its transaction, stamped with its provenance."""

    def __init__(self, conn: sqlite3.Connection, source: str, file_id: int, exported_at: str, ingested_at: str):
        self.conn = conn
        self.source = source
        self.stamp = (file_id, exported_at, ingested_at)

    def write(self, record) -> None:
        match record:
            case Patient():
                self.patient(record)
            case PanelEvent():
                self.panel(record)
            case Observation():
                self.observation(record)
            case ObservationRemoval():
                self.observation_removal(record)
            case Allergy():
                self.allergy(record)
            case Problem():
                self.problem(record)
            case Medication():
                self.medication(record)
            case Document():
                self.document(record)
            case _:
                raise TypeError(f"unknown record {record!r}")

    def patient_id(self, mrn: str) -> int:
        row = self.conn.execute(SQL_PATIENT_ID, (mrn,)).fetchone()
        if row is not None:
            return row[0]
        return self.patient(Patient(mrn, [], None, None, None, None, False))

    def patient(self, p: Patient) -> int:
        birth_date = p.birth_date.isoformat() if p.birth_date else None
        (patient_id,) = self.conn.execute(
            SQL_PATIENT,
            (p.mrn, p.family_name, p.given_name, birth_date, p.sex, p.registration, *self.stamp),
        ).fetchone()
        for ident in p.identifiers:
            self.conn.execute(
                SQL_IDENTIFIER, (patient_id, ident.system, ident.value, ident.id_type, ident.authority, *self.stamp)
            )
        return patient_id

    def panel(self, e: PanelEvent) -> None:
        patient_id = self.patient_id(e.mrn)
        active = {JOIN: 1, CANCEL_DISCHARGE: 1, LEAVE: 0, CANCEL_ADMIT: 0}.get(e.action)
        self.conn.execute(
            SQL_PANEL,
            (self.source, patient_id, active, e.location, e.attending, e.visit_number, rfc3339(e.admitted_at),
             rfc3339(e.discharged_at), e.event or None, rfc3339(e.event_at), *self.stamp,
             e.action == CANCEL_ADMIT),
        )

    def observation(self, o: Observation) -> None:
        patient_id = self.patient_id(o.mrn)
        self.conn.execute(
            SQL_OBSERVATION,
            (patient_id, o.order_id, o.code, o.code_system, o.name, o.value_type, o.value, o.numeric_value, o.unit,
             o.reference_range, o.abnormal_flag, o.status, rfc3339(o.observed_at) or "", rfc3339(o.resulted_at),
             *self.stamp),
        )

    def observation_removal(self, r: ObservationRemoval) -> None:
        patient_id = self.patient_id(r.mrn)
        self.conn.execute(
            SQL_OBSERVATION_REMOVAL, (patient_id, r.order_id, r.code, rfc3339(r.observed_at) or "", *self.stamp)
        )

    def allergy(self, a: Allergy) -> None:
        patient_id = self.patient_id(a.mrn)
        key = a.code if a.code is not None else a.allergen.lower()
        self.conn.execute(
            SQL_ALLERGY,
            (patient_id, key, a.code, a.code_system, a.allergen, a.allergy_type, a.severity, a.reaction,
             rfc3339(a.identified_at), *self.stamp),
        )

    def problem(self, p: Problem) -> None:
        patient_id = self.patient_id(p.mrn)
        key = p.code if p.code is not None else p.description.lower()
        self.conn.execute(
            SQL_PROBLEM,
            (patient_id, key, p.code, p.code_system, p.description, p.status, rfc3339(p.onset_at),
             rfc3339(p.resolved_at), p.origin, p.deleted, *self.stamp),
        )

    def medication(self, m: Medication) -> None:
        patient_id = self.patient_id(m.mrn)
        self.conn.execute(
            SQL_MEDICATION,
            (patient_id, m.order_id, m.name, m.code, m.code_system, m.dose, m.route, m.frequency, m.status,
             rfc3339(m.start_at), rfc3339(m.end_at), *self.stamp),
        )

    def document(self, d: Document) -> None:
        patient_id = self.patient_id(d.mrn)
        self.conn.execute(
            SQL_DOCUMENT,
            (patient_id, d.document_id, d.parent_id, d.doc_type, d.title, rfc3339(d.authored_at), d.author,
             d.status, d.event, d.text, *self.stamp, None, None, None, None),
        )
        if d.parent_id is not None and d.event == "T10":
            self.conn.execute(SQL_REPLACED_BY, (d.parent_id, d.document_id))


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------

HEADER_PREFIX = 64 * 1024


def open_snapshot(db: Path, migrations: Path) -> sqlite3.Connection:
    """A fresh snapshot (0600) with the repository's schema and the writer's pragmas."""
    if db.exists():
        sys.exit(f"{db}: exists; the reference pipeline writes a fresh snapshot")
    db.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -32768")
    conn.execute("PRAGMA temp_store = MEMORY")
    files = sorted(migrations.glob("*.sql"))
    if not files:
        sys.exit(f"{migrations}: no *.sql migrations")
    for sql in files:
        conn.executescript("BEGIN;\n" + sql.read_text(encoding="utf-8") + "\nCOMMIT;")
    # What rusqlite_migration records, so that `ingest` can open the snapshot too.
    conn.execute(f"PRAGMA user_version = {len(files)}")
    return conn


def find_files(paths: list[str]) -> list[Path]:
    files = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*.hl7")) if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            sys.exit(f"{path}: no such file or directory")
    return files


def mtime_of(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def plan(files: list[Path], zone: ZoneInfo) -> list[Path]:
    """In export order (the header time from the first 64 KiB, else the mtime), then path."""

    def key(path: Path):
        with path.open("rb") as f:
            prefix = f.read(HEADER_PREFIX)
        end = max(prefix.rfind(b"\r"), prefix.rfind(b"\n"))
        if end >= 0:
            prefix = prefix[: end + 1]
        found = exported_at(frame(decode_text(prefix)), zone)
        return (found[0] if found else mtime_of(path)), path.parts

    return sorted(files, key=key)


@dataclass
class Totals:
    files: int = 0
    duplicates: int = 0
    messages: int = 0
    records: int = 0
    rejects: int = 0


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def ingest_file(conn: sqlite3.Connection, mapper: Mapper, path: Path, source: str, totals: Totals) -> None:
    received_at = now_utc()
    data = path.read_bytes()
    mtime = mtime_of(path)
    sha256 = hashlib.sha256(data).hexdigest()
    framed = frame(decode_text(data))
    export = exported_at(framed, mapper.zone)
    exported, origin = export if export else (mtime, "mtime")
    meta = [source, str(path), len(data), rfc3339(mtime), sha256, "hl7", rfc3339(exported), origin,
            rfc3339(received_at)]

    totals.files += 1
    row = conn.execute(SQL_FIND_INGESTED, (sha256,)).fetchone()
    if row is not None:
        conn.execute(SQL_LEDGER, (*meta, rfc3339(now_utc()), "duplicate", row[0], 0, 0, 0, None))
        totals.duplicates += 1
        return

    # Parse and map every message before the transaction, as the Rust side does.
    parsed: list[list] = []
    rejects: list[tuple] = []
    for index, framed_message in enumerate(framed.messages, start=1):
        control_id = header_field(framed_message.segments[0], 10) if framed_message.has_msh else None
        try:
            if not framed_message.has_msh:
                raise Fault("MSH", "segments outside any message (no MSH segment starts them)")
            # A bare segment id gets its field separator (python-hl7 would make it a string).
            msh = framed_message.segments[0]
            sep = msh[3] if len(msh) > 3 else "|"
            text = "\r".join(s + sep if len(s) == 3 else s for s in framed_message.segments)
            try:
                message = hl7.parse(text)
            except Exception as e:  # python-hl7 raises ParseException, IndexError, …
                raise Fault(None, f"python-hl7 could not read the message: {e}") from None
            _, records = mapper.map(message, control_id)
            parsed.append(records)
        except Fault as fault:
            rejects.append((index, framed_message.line, control_id, fault.segment, fault.reason,
                            "\r".join(framed_message.raw_lines)))

    record_count = sum(len(r) for r in parsed)
    status = "ingested" if not rejects else "ingested_with_rejects"
    now = rfc3339(now_utc())
    conn.execute("BEGIN")
    try:
        cur = conn.execute(SQL_LEDGER, (*meta, now, status, None, len(parsed), record_count, len(rejects), None))
        file_id = cur.lastrowid
        writer = Writer(conn, source, file_id, rfc3339(exported), now)
        for records in parsed:
            for record in records:
                writer.write(record)
        conn.executemany(SQL_REJECT, [(file_id, *r) for r in rejects])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    totals.messages += len(parsed)
    totals.records += record_count
    totals.rejects += len(rejects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, type=Path, help="the snapshot to create (must not exist)")
    parser.add_argument("--migrations", required=True, type=Path, help="the repository's migrations/ directory")
    parser.add_argument("--time-zone", default="America/Chicago", help="zone of times without an offset")
    parser.add_argument("--source", default="replay", help="source name for the ledger and the panel")
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    args = parser.parse_args()

    started = time.perf_counter()
    zone = ZoneInfo(args.time_zone)
    mapper = Mapper(zone)
    files = plan(find_files(args.paths), zone)
    conn = open_snapshot(args.db, args.migrations)
    totals = Totals()
    for path in files:
        ingest_file(conn, mapper, path, args.source, totals)
    conn.close()
    seconds = time.perf_counter() - started
    print(json.dumps({
        "files": totals.files,
        "duplicates": totals.duplicates,
        "messages": totals.messages,
        "records": totals.records,
        "rejects": totals.rejects,
        "seconds": round(seconds, 3),
        "records_per_s": round(totals.records / seconds, 1) if seconds else None,
        "messages_per_s": round(totals.messages / seconds, 1) if seconds else None,
    }))


if __name__ == "__main__":
    main()
