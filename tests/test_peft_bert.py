"""The --peft methods on tiny bert: lora, qlora and ia3 on its masked LM, the prompt methods on a
classifier (peft prepends virtual tokens only where the head's labels allow it)."""

import pytest
import torch

from peft_cases import assert_base_untouched, plain_base, train_case

from lmlearn.adapters.prefix import PrefixTuning

pytestmark = pytest.mark.usefixtures("one_thread")

PREFIX_PROBLEM = PrefixTuning.version_problem("bert", "sequence-classification")
CASES = [("lora", "masked-lm"), ("qlora", "masked-lm"), ("ia3", "masked-lm"),
         pytest.param("prefix", "sequence-classification",
                      marks=pytest.mark.skipif(PREFIX_PROBLEM is not None, reason=f"refused: {PREFIX_PROBLEM}")),
         ("prompt", "sequence-classification"), ("ptuning", "sequence-classification")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each case trained once, when a test first asks for it."""
    runs = {}

    def get(method, task_type):
        if method not in runs:
            runs[method] = train_case(method, "bert", task_type, tmp_path_factory.mktemp(method))
        return runs[method]

    return get


@pytest.mark.parametrize("method,task_type", CASES)
def test_training_lowers_the_loss(trained, method, task_type):
    initial, final = trained(method, task_type)["losses"]
    assert final < initial - 0.05, (initial, final)


@pytest.mark.parametrize("method,task_type", CASES)
def test_only_the_adapter_and_head_train_and_the_base_stays_bit_identical(trained, method, task_type):
    run = trained(method, task_type)
    assert_base_untouched(run)
    if task_type == "sequence-classification":  # the fresh classifier trains as a copy saved with the adapter
        assert any("classifier.modules_to_save" in name for name, p in run["model"].named_parameters()
                   if p.requires_grad)


@pytest.mark.parametrize("method,task_type", CASES)
def test_saved_adapter_reloads_in_plain_peft_with_the_same_outputs(trained, method, task_type):
    from peft import PeftModel

    run = trained(method, task_type)
    reloaded = PeftModel.from_pretrained(plain_base(run["root"] / "base", method, task_type),
                                         run["root"] / "adapter").eval()
    inputs = {k: v for k, v in run["batch"].items() if k != "labels"}
    with torch.no_grad():
        assert torch.allclose(reloaded(**inputs).logits, run["model"](**inputs).logits, atol=1e-5, rtol=0)


def test_qlora_classifier_on_a_masked_lm_checkpoint_keeps_new_layers_in_full_precision(tmp_path):
    import bitsandbytes as bnb

    from lmlearn.adapters.apply import apply_peft
    from lmlearn.adapters.qlora import load_quantized
    from lmlearn.adapters.settings import PeftSettings
    from peft_cases import save_base

    save_base("bert", "masked-lm", tmp_path / "base")  # no pooler, no classifier in this checkpoint
    base = load_quantized(str(tmp_path / "base"), "sequence-classification", num_labels=3)
    assert isinstance(base.bert.encoder.layer[0].attention.self.query, bnb.nn.Linear4bit)
    assert type(base.bert.pooler.dense) is torch.nn.Linear and type(base.classifier) is torch.nn.Linear
    model = apply_peft(base, PeftSettings(peft="qlora"), "bert", "sequence-classification")
    trained = {name for name, p in model.named_parameters() if p.requires_grad and "lora_" not in name}
    # the new head trains and saves with the adapter: the classifier, and BERT's pooler, which the
    # masked-LM checkpoint does not have
    assert trained == {"base_model.model.classifier.modules_to_save.default.weight",
                       "base_model.model.classifier.modules_to_save.default.bias",
                       "base_model.model.bert.pooler.modules_to_save.default.dense.weight",
                       "base_model.model.bert.pooler.modules_to_save.default.dense.bias"}


@pytest.mark.skipif(PREFIX_PROBLEM is None, reason="these peft and transformers releases give a classifier its prefix")
def test_prefix_on_a_classifier_is_refused_up_front_where_peft_would_fail_inside(tmp_path):
    """The refusal names both releases, and is not a guess: plain peft fails on this pair."""
    import peft
    import transformers

    from lmlearn.adapters.apply import check_peft
    from lmlearn.errors import LmlearnError
    from peft_cases import make_batch, save_base

    with pytest.raises(LmlearnError, match=rf"peft {peft.__version__} .*transformers {transformers.__version__}"):
        check_peft("prefix", "bert", "sequence-classification")
    save_base("bert", "sequence-classification", tmp_path)
    base = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=2)
    model = peft.get_peft_model(base, peft.PrefixTuningConfig(num_virtual_tokens=4, task_type="SEQ_CLS"))
    with pytest.raises(ValueError, match="past key values"):
        model(**make_batch("bert", "sequence-classification"))
