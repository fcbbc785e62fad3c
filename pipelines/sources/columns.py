"""A column mapping: how any dataset's row becomes `{role, content}` messages, without writing Python.

Two shapes. Single-turn: `user` (one column, or several joined by a blank line: Alpaca's `instruction` + `input`),
`assistant`, optional `system`. Turn lists: `turns` names the list column, `role` and `content` the fields of each
turn, `roles` maps the dataset's role names onto `system`/`user`/`assistant`. Every preset of the seven paper
sources is one of these (`hala.pipelines.sources.presets`). An empty system message is dropped (many rows carry
`system_prompt: ""`), never a reason to reject the row; any other empty or non-string content is a reasoned reject.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hala.pipelines.core.records import Message, Role

MAX_CONTENT_CHARS = 100_000


class AdapterError(ValueError):
    """A row that cannot become messages; `reason` is the reject reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def content(value: Any, where: str, allow_empty: bool = False) -> str:
    """A message content as read: a string, not too large, not blank (unless allowed)."""
    if not isinstance(value, str):
        raise AdapterError("non_string_content", f"{where} is {type(value).__name__}, not a string")
    if len(value) > MAX_CONTENT_CHARS:
        raise AdapterError("too_large", f"{where} has {len(value)} characters (limit {MAX_CONTENT_CHARS})")
    if not allow_empty and not value.strip():
        raise AdapterError("empty_content", f"{where} is empty")
    return value


class ColumnMapping(BaseModel):
    """Which columns (or turn fields) hold the messages (a recipe's `columns:` block, or `--columns`)."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(None, description="single-turn: the system prompt column (empty → no system message)")
    user: str | list[str] | None = Field(None, description="single-turn: the user column (several: joined by a "
                                         "blank line, empty ones skipped)")
    assistant: str | None = Field(None, description="single-turn: the answer column")
    turns: str | None = Field(None, description="turn list: the column holding the list of turns")
    role: str = Field("role", description="turn list: the field of a turn naming its speaker")
    content: str = Field("content", description="turn list: the field of a turn holding its text")
    roles: dict[str, Role] = Field(default_factory=lambda: {"system": "system", "user": "user",
                                                                "assistant": "assistant"},
                                       description="turn list: the dataset's role names → system/user/assistant")

    @field_validator("user")
    @classmethod
    def _user_columns(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("user: give at least one column")
        return v

    @model_validator(mode="after")
    def _one_shape(self):
        single = self.user is not None or self.assistant is not None or self.system is not None
        if self.turns and single:
            raise ValueError("give either `turns` (a turn list) or `user`/`assistant`/`system` columns, not both")
        if not self.turns and (self.user is None or self.assistant is None):
            raise ValueError("a single-turn mapping needs both `user` and `assistant` columns (or give `turns`)")
        return self

    def user_columns(self) -> list[str]:
        return [self.user] if isinstance(self.user, str) else list(self.user or [])

    def required_columns(self) -> list[str]:
        """Top-level columns every row must have (what `check_rows` looks for before any work)."""
        if self.turns:
            return [self.turns]
        return [*self.user_columns()[:1], self.assistant]

    def missing(self, row: dict) -> str | None:
        """The first required column (or turn field) absent from `row`, as `column` or `turns[i].field`."""
        for col in self.required_columns():
            if col not in row:
                return col
        if self.turns:
            for i, turn in enumerate(row.get(self.turns) or []):
                if isinstance(turn, dict):
                    for f in (self.role, self.content):
                        if f not in turn:
                            return f"{self.turns}[{i}].{f}"
        return None

    def messages(self, row: dict) -> list[Message]:
        """The row's messages, or `AdapterError` with a reason."""
        out = self._turn_messages(row) if self.turns else self._single_turn(row)
        if not any(m["role"] == "assistant" for m in out):
            raise AdapterError("unknown_format", "no assistant message")
        return out

    def _single_turn(self, row: dict) -> list[Message]:
        missing = self.missing(row)
        if missing:
            raise AdapterError("unknown_format", f"no column {missing!r} (keys: {', '.join(sorted(map(str, row))[:8])})")
        messages: list[Message] = []
        if self.system is not None:
            system = content(row.get(self.system) or "", self.system, allow_empty=True)
            if system.strip():
                messages.append({"role": "system", "content": system})
        cols = self.user_columns()
        first = content(row.get(cols[0]), cols[0])
        extra = [content(row.get(c) or "", c, allow_empty=True) for c in cols[1:]]
        user = "\n\n".join([first, *(e for e in extra if e.strip())])
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": content(row.get(self.assistant), self.assistant)})
        return messages

    def _turn_messages(self, row: dict) -> list[Message]:
        turns = row.get(self.turns)
        if not isinstance(turns, list) or not turns:
            raise AdapterError("unknown_format", f"{self.turns} must be a non-empty list")
        roles = {k.lower(): v for k, v in self.roles.items()}
        messages: list[Message] = []
        for i, turn in enumerate(turns):
            where = f"{self.turns}[{i}]"
            if not isinstance(turn, dict):
                raise AdapterError("unknown_format", f"{where} is not an object")
            role = roles.get(str(turn.get(self.role, "")).lower())
            if role is None:
                raise AdapterError("bad_role", f"{where}.{self.role} = {turn.get(self.role)!r} (known: "
                                   f"{', '.join(self.roles)})")
            text = content(turn.get(self.content), f"{where}.{self.content}", allow_empty=role == "system")
            if role == "system" and not text.strip():
                continue  # an empty system turn says nothing: dropped, not a reject
            messages.append({"role": role, "content": text})
        return messages


def parse_columns(spec: str) -> dict:
    """`--columns` text → a ColumnMapping dict: `user=question,assistant=answer,system=sys` or
    `turns=dialog,role=speaker,content=text,roles.A=user,roles.B=assistant`; `user=a+b` joins two columns."""
    from hala.pipelines.core.errors import UserError

    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserError(f"--columns: {part!r} is not KEY=VALUE (e.g. user=question,assistant=answer)")
        key, value = key.strip(), value.strip()
        if key.startswith("roles."):
            out.setdefault("roles", {})[key.removeprefix("roles.")] = value
        elif key == "user" and "+" in value:
            out["user"] = [v.strip() for v in value.split("+")]
        else:
            out[key] = value
    return out
