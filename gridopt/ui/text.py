"""Messages for people: ISO 8601 times in gridopt's messages read as local times."""

from __future__ import annotations

import re

import pandas as pd

#: An ISO 8601 time with seconds and a UTC offset, as gridopt writes times into messages.
ISO_TIME = re.compile(r"\b(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?([+-]\d{2}:\d{2}|Z)\b")


def human_times(text: str) -> str:
    """``'2019-10-02T09:00:00-07:00'`` -> ``'Wed 02 Oct 2019 09:00'`` (the message's own local time, kept).

    Only for messages gridopt computed (warnings, infeasibility diagnoses); an error quoting the
    user's own text keeps it as written, so that it can be found in the file.
    """

    def one(m: re.Match) -> str:
        try:
            t = pd.Timestamp(m.group(0))
        except ValueError:
            return m.group(0)
        return t.strftime("%a %d %b %Y %H:%M") + (f":{t.second:02d}" if t.second else "")

    return ISO_TIME.sub(one, text)
