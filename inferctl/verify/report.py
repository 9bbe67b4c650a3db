"""One verification report: a result per check and per target, as a table and as JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Check:
    target: str      # what was checked: a URL or a testinfra host URL
    name: str        # e.g. "health", "auth: no key", "spec: test_caddy_listens"
    status: str      # pass | fail | skip
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    subject: str                       # what the user asked to verify (--host)
    checks: list[Check] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and not self.failed

    def exit_code(self) -> int:
        """0 only when at least one check ran and none failed."""
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, SKIP)}

    def table(self) -> str:
        rows = [("RESULT", "TARGET", "CHECK", "TIME", "DETAIL")]
        rows += [(c.status.upper(), c.target, c.name, f"{c.seconds * 1000:.0f}ms", c.detail) for c in self.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
        n = self.counts()
        verdict = "VERIFIED" if self.ok else "FAILED" if self.checks else "NOTHING CHECKED"
        lines.append(f"{verdict}: {n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped ({self.subject})")
        return "\n".join(line.rstrip() for line in lines)

    def to_json(self) -> dict:
        return {"subject": self.subject, "ok": self.ok, "counts": self.counts(),
                "started": self.started, "finished": time.time(),
                "checks": [asdict(c) for c in self.checks]}

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path
