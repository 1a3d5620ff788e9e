"""Downstream-task metrics against values worked out by hand on tiny examples."""

import math

import pytest

from lmlearn.errors import LmlearnError
from lmlearn.tasks.metrics import bleu_chrf, classification_scores, entity_scores, rouge_scores, squad_scores


def test_classification_accuracy_and_macro_f1_by_hand():
    scores = classification_scores(["a", "a", "a", "b"], ["a", "a", "b", "b"])
    # 3 of 4 right.
    assert scores["accuracy"] == pytest.approx(3 / 4)
    # a: TP 2, FP 1, FN 0 -> P 2/3, R 1, F1 4/5; b: TP 1, FP 0, FN 1 -> P 1, R 1/2, F1 2/3.
    # Macro = (4/5 + 2/3) / 2 = 11/15.
    assert scores["macro_f1"] == pytest.approx(11 / 15)


def test_macro_f1_counts_labels_that_only_the_model_predicts():
    # a: TP 1, FN 1 -> F1 2/3; c (never gold): P 0, R undefined -> 0. Macro over {a, c} = 1/3,
    # where averaging over the gold labels alone would give 2/3.
    assert classification_scores(["a", "c"], ["a", "a"])["macro_f1"] == pytest.approx(1 / 3)


def test_entity_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]]
    pred = [["B-PER", "I-PER", "B-ORG", "B-LOC", "O"]]
    scores = entity_scores(pred, gold)
    # Gold entities: PER[0:2], LOC[3:5]. Predicted: PER[0:2] (right), ORG[2:3] (spurious),
    # LOC[3:4] (wrong boundary). 1 correct -> P 1/3, R 1/2, F1 2·(1/6)/(5/6) = 2/5.
    assert scores["entity_precision"] == pytest.approx(1 / 3)
    assert scores["entity_recall"] == pytest.approx(1 / 2)
    assert scores["entity_f1"] == pytest.approx(2 / 5)
    # Tags 0, 1, 3 match; 2 and 4 do not -> 3/5.
    assert scores["tag_accuracy"] == pytest.approx(3 / 5)


def test_entity_scores_start_an_entity_at_a_bare_inside_tag():
    # conlleval reads "O I-PER" as a PER entity, so this prediction is fully right.
    scores = entity_scores([["O", "I-PER"]], [["O", "B-PER"]])
    assert scores["entity_f1"] == pytest.approx(1.0)
    assert scores["tag_accuracy"] == pytest.approx(1 / 2)


def test_entity_scores_reject_a_length_mismatch():
    with pytest.raises(LmlearnError, match="sentence 1"):
        entity_scores([["O"], ["O", "B-PER"]], [["O"], ["O"]])


def test_squad_normalisation_and_token_f1_by_hand():
    # Articles, case and punctuation go: "eiffel tower" on both sides.
    assert squad_scores(["the Eiffel Tower"], [["Eiffel tower!"]]) == {"exact_match": 100.0, "f1": 100.0}
    # "eiffel tower in paris" vs "eiffel tower": 2 common -> P 2/4, R 2/2, F1 2/3.
    # Against the other gold "paris": P 1/4, R 1, F1 2/5; the best gold (2/3) counts.
    scores = squad_scores(["Eiffel Tower in Paris"], [["Paris", "the Eiffel Tower"]])
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(100 * 2 / 3)


def test_squad_scores_average_over_questions():
    # Question 1 exact (EM 1, F1 1); question 2 shares nothing (EM 0, F1 0) -> 50 and 50.
    scores = squad_scores(["Paris", "Lyon"], [["paris"], ["Marseille"]])
    assert scores == {"exact_match": 50.0, "f1": 50.0}


def test_korquad_character_f1_gives_partial_credit_for_a_particle():
    # "세종대왕은" (5 chars) vs "세종대왕" (4 chars): 4 shared -> P 4/5, R 1,
    # F1 = 2·(4/5·1)/(4/5+1) = 8/9.
    scores = squad_scores(["세종대왕은"], [["세종대왕"]], rules="korquad")
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(100 * 2 * (4 / 5 * 1) / (4 / 5 + 1))
    # SQuAD rules see two different words and give nothing: why KorQuAD counts characters.
    assert squad_scores(["세종대왕은"], [["세종대왕"]], rules="squad")["f1"] == 0.0


def test_korquad_normalisation_drops_korean_brackets_and_keeps_articles():
    # 《》 are not ASCII punctuation: only the KorQuAD rules remove them.
    assert squad_scores(["《훈민정음》"], [["훈민정음"]], rules="korquad")["exact_match"] == 100.0
    assert squad_scores(["《훈민정음》"], [["훈민정음"]], rules="squad")["exact_match"] == 0.0
    # The KorQuAD script removes no English articles, unlike SQuAD's.
    assert squad_scores(["the answer"], [["answer"]], rules="korquad")["exact_match"] == 0.0
    assert squad_scores(["the answer"], [["answer"]], rules="squad")["exact_match"] == 100.0


def test_korquad_f1_ignores_spaces_but_exact_match_does_not():
    # Characters 세 종 대 왕 on both sides -> F1 100; the normalised strings differ by a space -> EM 0
    assert squad_scores(["세종 대왕"], [["세종대왕"]], rules="korquad") == {"exact_match": 0.0, "f1": 100.0}


def test_squad_scores_reject_unknown_rules_and_unpaired_lists():
    with pytest.raises(LmlearnError, match="unknown rules"):
        squad_scores(["a"], [["a"]], rules="cmrc")
    with pytest.raises(LmlearnError, match="1 predictions for 2 references"):
        squad_scores(["a"], [["a"], ["b"]])


def test_rouge_by_hand_on_an_english_pair():
    scores = rouge_scores(["the cat sat"], ["the cat ran away"])
    # Unigrams: 2 shared of 3 predicted, 4 gold -> P 2/3, R 1/2, F 4/7.
    assert scores["rouge1"] == pytest.approx(100 * 4 / 7)
    # Bigrams: "the cat" shared, of 2 predicted, 3 gold -> P 1/2, R 1/3, F 2/5.
    assert scores["rouge2"] == pytest.approx(100 * 2 / 5)
    # Longest common subsequence "the cat": length 2, same as unigrams -> 4/7.
    assert scores["rougeL"] == pytest.approx(100 * 4 / 7)


def test_rouge_averages_over_pairs():
    # 100 for the identical pair, 4/7 for the other -> mean (100 + 400/7) / 2.
    scores = rouge_scores(["a b", "the cat sat"], ["a b", "the cat ran away"])
    assert scores["rouge1"] == pytest.approx((100 + 100 * 4 / 7) / 2)


def test_rouge_scores_korean_text():
    # rouge-score's default tokenizer would drop every Hangul character and score 0 here.
    # One shared word ("한글을") of three on each side.
    assert rouge_scores(["세종대왕이 한글을 만들었다"], ["세종대왕은 한글을 창제했다"])["rouge1"] > 0
    same = "세종대왕이 한글을 만들었다"
    assert rouge_scores([same], [same]) == pytest.approx({"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0})


def test_bleu_and_chrf_on_identical_and_disjoint_text():
    same = bleu_chrf(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert same["bleu"] == pytest.approx(100.0)
    assert same["chrf"] == pytest.approx(100.0)
    # No character in common -> no character n-gram matches.
    assert bleu_chrf(["xyz"], ["abc"])["chrf"] == pytest.approx(0.0)


def test_bleu_brevity_penalty_by_hand():
    # A 4-word prefix of a 6-word reference: every n-gram precision (n = 1..4) is 1, so
    # BLEU = 100 · BP = 100 · exp(1 - 6/4).
    scores = bleu_chrf(["the cat sat on"], ["the cat sat on the mat"])
    assert scores["bleu"] == pytest.approx(100 * math.exp(1 - 6 / 4), abs=1e-3)
