"""Fonts that draw Korean: the CSS stack of the HTML reports, and a Hangul font for matplotlib labels (its
default, DejaVu Sans, has no Hangul and draws each syllable as an empty box)."""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

# common Hangul fonts on Linux, macOS and Windows, then the browser's default
CSS_FONTS = ('"Noto Sans KR", "Noto Sans CJK KR", "Apple SD Gothic Neo", "Malgun Gothic", "NanumGothic", '
             '"Nanum Gothic", "UnDotum", sans-serif')
MATPLOTLIB_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "NanumBarunGothic", "Apple SD Gothic Neo",
                    "AppleGothic", "Malgun Gothic", "UnDotum", "Baekmuk Gulim")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


def has_hangul(text: str) -> bool:
    """Whether the text holds Hangul (syllables or jamo)."""
    return bool(_HANGUL.search(text))


@functools.lru_cache(maxsize=1)
def hangul_font() -> str | None:
    """The first installed matplotlib font that draws Hangul, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in MATPLOTLIB_FONTS if name in installed), None)


_warned = False


def hangul_labels(fig: Any) -> None:
    """Draw every text of the figure that holds Hangul in an installed Hangul font; when none is installed,
    say so once (the labels would show as boxes)."""
    global _warned
    from matplotlib.text import Text

    texts = [t for t in fig.findobj(Text) if has_hangul(t.get_text())]
    if not texts:
        return
    font = hangul_font()
    if font is None:
        if not _warned:
            print("note: no Hangul font is installed for matplotlib, so Korean plot labels show as boxes "
                  "(install fonts-nanum or Noto Sans CJK)", file=sys.stderr)
            _warned = True
        return
    for text in texts:
        text.set_fontfamily([font, "DejaVu Sans"])
