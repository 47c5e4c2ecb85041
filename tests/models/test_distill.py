"""DistilBERT: the student's architecture, size and initialization, and its three loss terms
decreasing under the Lightning Trainer."""

import random

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from bench.config.schema import encoder_config
from bench.data.pretraining import (
    PretrainingCollator,
    SpecialIds,
    TokenizedSentence,
    build_pretraining_dataset,
    pretraining_dataloader,
)
from bench.io import CONF_DIR
from lightning_modules.distill import (
    DistillConfig,
    DistillModule,
    default_teacher_layers,
    student_config,
)
from lightning_modules.encoder import Encoder, EncoderConfig, count_parameters
from lightning_modules.pretrain import ObjectiveConfig, PretrainModule, adamw_with_warmup, pretraining_trainer

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
V = 80


def _teacher_cfg(layers=4):
    return EncoderConfig(
        vocab_size=V,
        embedding_size=32,
        hidden_size=32,
        num_layers=layers,
        num_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        dropout=0.0,
        attention_dropout=0.0,
    )


def _distil_objective(**overrides) -> ObjectiveConfig:
    obj = ObjectiveConfig.from_cfg(OmegaConf.load(CONF_DIR / "objective" / "distil.yaml"), "tiny")
    for k, v in overrides.items():
        setattr(obj, k, v)
    return obj


def _teacher_state(cfg, seed=0):
    torch.manual_seed(seed)
    return PretrainModule(cfg, ObjectiveConfig(name="t", masking="dynamic")).state_dict()


def _model_yaml(name):
    d = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml"))
    d.pop("defaults", None)
    return encoder_config(d)


def test_student_of_bert_base_is_distilbert_base():
    assert student_config(_model_yaml("bert_base")) == _model_yaml("distilbert_base")


def test_published_recipe_values():
    obj = _distil_objective()
    d = DistillConfig.from_dict(obj.distillation)
    assert (d.temperature, d.alpha_ce, d.alpha_mlm, d.alpha_cos) == (2.0, 5.0, 2.0, 1.0)
    assert obj.masking == "dynamic" and obj.sentence_task == "none"
    assert default_teacher_layers(12, 6) == [0, 2, 4, 6, 8, 10]
    with pytest.raises(ValueError, match="unknown key"):
        DistillConfig.from_dict({"temprature": 2.0})


def test_student_size_and_initialization():
    t_cfg = _teacher_cfg(layers=4)
    module = DistillModule.from_teacher(_teacher_state(t_cfg), t_cfg, _distil_objective())
    teacher, student = module.teacher, module.encoder
    # size: the teacher minus two layers, the token-type embeddings and the pooler
    per_layer = sum(p.numel() for p in [*teacher.attention[0].parameters(), *teacher.ffn[0].parameters()])
    expected = (
        count_parameters(teacher)["total"]
        - 2 * per_layer
        - t_cfg.type_vocab_size * t_cfg.embedding_size
        - (t_cfg.hidden_size**2 + t_cfg.hidden_size)
    )
    assert count_parameters(student)["total"] == expected
    assert student.cfg.num_layers == 2 and student.embeddings.token_type is None and student.pooler is None
    # initialization: embeddings copied, student layer i = teacher layer 2i
    for name in ("word", "position", "norm"):
        for a, b in zip(getattr(student.embeddings, name).parameters(), getattr(teacher.embeddings, name).parameters()):
            assert torch.equal(a, b)
    for i, j in enumerate([0, 2]):
        for blocks in ("attention", "ffn"):
            s_sd, t_sd = getattr(student, blocks)[i].state_dict(), getattr(teacher, blocks)[j].state_dict()
            assert all(torch.equal(s_sd[k], t_sd[k]) for k in s_sd)
            t_other = getattr(teacher, blocks)[j + 1].state_dict()
            assert not all(torch.equal(s_sd[k], t_other[k]) for k in s_sd)
    assert torch.equal(module.mlm_head.transform.weight, module.teacher_head.transform.weight)
    assert module.mlm_head.word_embeddings.weight is student.embeddings.word.weight  # decoder tied to the student
    # the teacher is frozen and stays in eval mode
    assert not any(p.requires_grad for p in teacher.parameters())
    module.train()
    assert not teacher.training and student.training


def test_custom_teacher_layers():
    t_cfg = _teacher_cfg(layers=4)
    module = DistillModule.from_teacher(_teacher_state(t_cfg), t_cfg, _distil_objective(), {"teacher_layers": [1, 3]})
    assert torch.equal(module.encoder.attention[1].qkv.weight, module.teacher.attention[3].qkv.weight)
    with pytest.raises(ValueError, match="must name 2 layers"):
        DistillModule.from_teacher(_teacher_state(t_cfg), t_cfg, _distil_objective(), {"teacher_layers": [0]})


def _documents(n_docs=40, seed=0):
    rng = random.Random(seed)
    docs, word = [], 0
    for _ in range(n_docs):
        doc = []
        for _ in range(rng.randint(3, 6)):
            token, n = 10 + rng.randrange(V - 10), rng.randint(4, 10)
            doc.append(TokenizedSentence([token] * n, list(range(word, word + n))))
            word += n
        docs.append(doc)
    return docs


class _Record(Callback):
    KEYS = ("distill/loss_ce", "distill/loss_mlm", "distill/loss_cos")

    def __init__(self):
        self.history = {k: [] for k in self.KEYS}
        self.teacher_training = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        for k in self.KEYS:
            self.history[k].append(float(trainer.callback_metrics[k]))
        self.teacher_training.append(pl_module.teacher.training)


def _pretrained_teacher(cfg, loader, steps=150):
    """A teacher that has learnt the corpus (a random one predicts uniform distributions that
    the student matches from the start)."""
    torch.manual_seed(0)
    obj = ObjectiveConfig(name="teacher", masking="static", lr=1e-2, warmup_ratio=0.06)
    teacher = PretrainModule(cfg, obj)
    opt = adamw_with_warmup(teacher.named_parameters(), obj, steps)
    optimizer, scheduler = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    batches = [b for b in loader]
    for step in range(steps):
        teacher.compute_losses(batches[step % len(batches)])["loss"].backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return teacher.state_dict(), float(teacher.compute_losses(batches[0])["mlm_loss"])


def test_three_loss_terms_decrease(tmp_path, one_torch_thread):
    t_cfg = _teacher_cfg(layers=4)
    # fixed masks (static) so that the three terms are measured on the same inputs as they fall
    ds = build_pretraining_dataset(
        _documents(),
        masking="static",
        input_format="full_sentences",
        sentence_task="none",
        max_seq_length=48,
        special=SPECIAL,
        vocab_size=V,
        seed=0,
    )
    loader = pretraining_dataloader(ds, PretrainingCollator(SPECIAL, V, dynamic=False), 16, seed=0)
    teacher_state, teacher_loss = _pretrained_teacher(t_cfg, loader)
    assert teacher_loss < 1.5  # the teacher knows the corpus (uniform would be ln 80 = 4.4)
    obj = _distil_objective(max_steps=40, lr=3e-3, batch_size=16, max_seq_length=48, warmup_ratio=0.1)
    module = DistillModule.from_teacher(teacher_state, t_cfg, obj)
    teacher_before = {k: v.clone() for k, v in module.teacher.state_dict().items()}
    record = _Record()
    trainer = pretraining_trainer(
        tmp_path,
        obj,
        callbacks=[record],
        logger=False,
        enable_progress_bar=False,
        accelerator="cpu",
        checkpoint_every_n_steps=1000,
    )
    trainer.fit(module, loader)
    for key, values in record.history.items():
        assert len(values) == 40
        first, last = sum(values[:5]) / 5, sum(values[-5:]) / 5
        assert last < 0.8 * first, (key, first, last)
    assert not any(record.teacher_training)
    assert all(torch.equal(v, teacher_before[k]) for k, v in module.teacher.state_dict().items())
    student = module.student_state_dict()
    assert student and all(k.startswith(("encoder.", "mlm_head.")) for k in student)
    assert Encoder(module.encoder.cfg).load_state_dict(
        {k[8:]: v for k, v in student.items() if k.startswith("encoder.")}
    )
