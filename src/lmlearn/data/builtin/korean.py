"""Korean particles (조사) chosen by the final consonant (받침) of the word they follow.

Korean particles have two shapes: one after a consonant (책을, 서울은) and one after a vowel
(사과를, 바다는). The choice is computed from the Hangul code point, never from a word list,
so any generated noun gets the right particle. Templates use it through `render`:
"{name:은} {food:을} 좋아한다" gives "민준은 사과를 좋아한다" or "지우는 김치를 좋아한다".
"""

import re
from typing import Mapping

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # index of ㄹ among the 28 final-consonant slots (0 means no final consonant)

# Final consonant of each digit as read in Sino-Korean: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGIT_FINAL = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
# A number ending in zeros is read by its unit: 십 (10), 백 (100), 천 (1,000), then 만, 억, 조.
_UNIT_FINAL = {1: 17, 2: 1, 3: 4}
_MYRIAD_FINAL = {4: 4, 8: 1, 12: 0}

# particle -> (form after a consonant, form after a vowel); either form can name the pair.
_PAIRS = [("은", "는"), ("이", "가"), ("을", "를"), ("과", "와"), ("으로", "로"),
          ("이다", "다"), ("이에요", "예요")]
_FORMS = {form: pair for pair in _PAIRS for form in pair}


def _number_final(digits: str) -> int:
    zeros = len(digits) - len(digits.rstrip("0"))
    if zeros == 0 or zeros == len(digits):
        return _DIGIT_FINAL[digits[-1]]
    return _UNIT_FINAL[zeros % 4] if zeros % 4 else _MYRIAD_FINAL[zeros]


def final_consonant(word: str) -> int:
    """Index (1-27) of the final consonant the word is read with, or 0 when it ends in a vowel."""
    # Closing quotes, brackets and full stops are not read aloud: look past them.
    end = word.rstrip(" .,!?\"')]}」』")
    if not end:
        raise ValueError(f"no Hangul or digit to attach a particle to in {word!r}")
    last = end[-1]
    if _HANGUL_FIRST <= ord(last) <= _HANGUL_LAST:
        return (ord(last) - _HANGUL_FIRST) % 28
    if "0" <= last <= "9":
        return _number_final(re.search(r"[\d,]*$", end).group().replace(",", ""))
    raise ValueError(f"cannot choose a Korean particle after {word!r}: it must end in Hangul or a digit")


def josa(word: str, particle: str) -> str:
    """The word followed by the right form of `particle` (either form names it: "은" or "는")."""
    if particle not in _FORMS:
        raise ValueError(f"unknown particle {particle!r}; known: {', '.join(_FORMS)}")
    after_consonant, after_vowel = _FORMS[particle]
    final = final_consonant(word)
    # 으로 is the one particle where ㄹ counts as a vowel: 서울로, 연필로, but 부산으로.
    if after_consonant == "으로" and final == _RIEUL:
        return word + after_vowel
    return word + (after_consonant if final else after_vowel)


class _Word(str):
    """A string whose format spec is a particle: f"{_Word('책'):을}" is "책을"."""

    def __format__(self, spec: str) -> str:
        return josa(str(self), spec) if spec else str(self)


class _Words:
    """A read-only view of template values as `_Word`s, converting only the fields a template uses."""

    def __init__(self, values: Mapping[str, object]):
        self.values = values

    def __getitem__(self, key: str) -> _Word:
        return _Word(self.values[key])


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill a str.format template whose fields may carry a particle spec, e.g. "{name:은}"."""
    return template.format_map(_Words(values))
