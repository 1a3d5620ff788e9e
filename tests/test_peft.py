"""The --peft methods on tiny llama and gpt2: each trains only its adapter, lowers the loss, and saves a
folder that plain peft reloads to the same outputs (bert: test_peft_bert.py)."""

import gc
import os

import pytest
import torch

from lmlearn.adapters import peft_names
from lmlearn.adapters.apply import apply_peft
from lmlearn.adapters.base import auto_class
from lmlearn.adapters.qlora import load_quantized
from lmlearn.adapters.settings import PeftSettings
from lmlearn.models.presets import build_config
from peft_cases import SMALL, assert_base_untouched, make_batch, plain_base, tokenizer, train_case

pytestmark = pytest.mark.usefixtures("one_thread")

CASES = [(method, family) for method in peft_names() for family in ("llama", "gpt2")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each case trained once, when a test first asks for it."""
    runs = {}

    def get(method, family):
        if (method, family) not in runs:
            root = tmp_path_factory.mktemp(f"{method}-{family}")
            runs[method, family] = train_case(method, family, "causal-lm", root)
        return runs[method, family]

    return get


@pytest.mark.parametrize("method,family", CASES)
def test_training_lowers_the_loss(trained, method, family):
    initial, final = trained(method, family)["losses"]
    assert final < initial - 0.05, (initial, final)


@pytest.mark.parametrize("method,family", CASES)
def test_only_the_adapter_trains_and_the_base_stays_bit_identical(trained, method, family):
    run = trained(method, family)
    assert_base_untouched(run)


@pytest.mark.parametrize("method,family", CASES)
def test_saved_adapter_reloads_in_plain_peft_with_the_same_outputs(trained, method, family):
    from peft import PeftModel

    run = trained(method, family)
    reloaded = PeftModel.from_pretrained(plain_base(run["root"] / "base", method, "causal-lm"),
                                         run["root"] / "adapter").eval()
    inputs = {k: v for k, v in run["batch"].items() if k != "labels"}
    with torch.no_grad():
        assert torch.allclose(reloaded(**inputs).logits, run["model"](**inputs).logits, atol=1e-5, rtol=0)


def test_qlora_adapts_every_linear_layer_of_a_4bit_nf4_double_quantized_base(trained):
    import bitsandbytes as bnb

    model = trained("qlora", "llama")["model"]
    adapted = [m for m in model.modules() if hasattr(m, "lora_A")]
    assert len(adapted) == 7 * 2  # q, k, v, o, gate, up, down in each of the 2 layers
    assert all(isinstance(m.base_layer, bnb.nn.Linear4bit) for m in adapted)
    state = adapted[0].base_layer.weight.quant_state
    assert state.quant_type == "nf4" and state.nested
    assert not isinstance(model.get_output_embeddings(), bnb.nn.Linear4bit)


def llama_base():
    config = build_config("llama-tiny", tokenizer("llama"))
    torch.manual_seed(0)
    return auto_class("causal-lm").from_config(config).eval()


@pytest.mark.parametrize("method", ["lora", "ia3", "llama-adapter"])
def test_adapter_starts_as_the_identity(method):
    base = llama_base()
    ids = make_batch("llama", "causal-lm")["input_ids"]
    with torch.no_grad():
        expected = base(input_ids=ids).logits
        model = apply_peft(base, PeftSettings(peft=method, **SMALL), "llama", "causal-lm").eval()
        assert torch.equal(model(input_ids=ids).logits, expected)


def test_prompt_init_text_starts_from_the_text_embeddings():
    base = llama_base()
    settings = PeftSettings(peft="prompt", num_virtual_tokens=5, prompt_init_text="Minjun lives")
    model = apply_peft(base, settings, "llama", "causal-lm", tokenizer("llama"))
    text = tokenizer("llama")("Minjun lives", add_special_tokens=False)["input_ids"]
    expected = [text[i % len(text)] for i in range(5)]  # repeated to the prompt length
    assert torch.equal(model.prompt_encoder["default"].embedding.weight, base.get_input_embeddings().weight[expected])


def test_default_targets_name_real_modules_of_every_family():
    from lmlearn.adapters.targets import IA3_TARGETS, LORA_TARGETS
    from lmlearn.models.factory import build_model, lm_head_of
    from lmlearn.models.presets import FAMILIES, SpecialIds, preset_config

    for family in FAMILIES:
        with torch.device("meta"):
            model = build_model(preset_config(family, "tiny", SpecialIds(100, pad=0, bos=1, eos=2)), lm_head_of(family))
        linear = [name for name, m in model.named_modules() if type(m).__name__ in ("Linear", "Conv1D")]
        targets, feedforward = IA3_TARGETS[family]
        for target in LORA_TARGETS[family] + targets + feedforward:
            assert any(name == target or name.endswith("." + target) for name in linear), (family, target)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads the process memory map (Linux)")
def test_4bit_model_keeps_no_view_of_the_full_precision_checkpoint(tmp_path):
    llama_base().save_pretrained(tmp_path / "base")
    model = load_quantized(str(tmp_path / "base"), "causal-lm")
    gc.collect()
    # a tensor still viewing the mapped checkpoint would keep every fp32 page of it resident
    assert os.path.realpath(tmp_path / "base" / "model.safetensors") not in open("/proc/self/maps").read()
    assert model(input_ids=torch.tensor([[5, 6, 7]])).logits.isfinite().all()
