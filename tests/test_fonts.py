"""Korean in reports: the HTML font stack names Hangul fonts, and plot labels holding Hangul are drawn in an
installed Hangul font (or the run says once that none is installed)."""

import pytest

from lmlearn import fonts
from lmlearn.tour.plots import figure


def test_hangul_is_detected_in_syllables_and_jamo_only():
    assert fonts.has_hangul("감정: 긍정") and fonts.has_hangul("ㅋㅋ") and not fonts.has_hangul("sentiment 感情")


def test_html_reports_ask_for_hangul_fonts_before_the_default():
    stack = fonts.CSS_FONTS
    assert "Noto Sans KR" in stack and "Malgun Gothic" in stack and stack.endswith("sans-serif")


def test_hangul_labels_get_the_installed_font(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(fonts, "hangul_font", lambda: "DejaVu Sans")  # stands in for an installed Hangul font
    drawn = {}
    real_close = plt.close

    def keep(fig):
        drawn["fig"] = fig
        real_close(fig)

    monkeypatch.setattr(plt, "close", keep)
    with figure(tmp_path / "p.png", "단계", "loss", "title") as ax:
        ax.annotate("부정", (0, 0))
    texts = {t.get_text(): t.get_fontfamily() for t in drawn["fig"].findobj(lambda a: hasattr(a, "get_fontfamily"))}
    assert texts["단계"][0] == "DejaVu Sans" and texts["부정"][0] == "DejaVu Sans"
    assert texts["loss"] == ["sans-serif"]  # a label without Hangul keeps the default


@pytest.mark.filterwarnings("error::UserWarning")  # not one matplotlib warning per missing glyph
def test_without_a_hangul_font_the_run_says_so_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fonts, "hangul_font", lambda: None)
    monkeypatch.setattr(fonts, "_warned", False)
    for name in ("a.png", "b.png"):
        with figure(tmp_path / name, "단계", "loss", "제목"):
            pass
        assert (tmp_path / name).stat().st_size > 1000
    assert capsys.readouterr().err.count("no Hangul font is installed") == 1
