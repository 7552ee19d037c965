"""The config schema: six sections, every field typed and documented where it is declared.

This is the canonical (nested) form. Files written in upstream's flat layout or in the original PTBR's format are read
into it by :mod:`ptbr.layouts` first.

`None` always means "not set": the field is then not forwarded and the destination's default applies (the forwarding
table says which default, and ``ptbr explain`` prints it). A zero, ``false`` or ``""`` is a value and is forwarded.
The docstring under each field is its documentation: it feeds ``ptbr schema`` and the config reference (generated
into docs/config.md when the site is built).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NONE_STRINGS = ("none", "None", "")


def _none_string(value: Any) -> Any:
    """Upstream GLiNER configs write the string "none" (or "") for "no value" in a few path fields."""
    return None if value in _NONE_STRINGS else value


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=True,
        protected_namespaces=(),
        allow_inf_nan=False,  # a learning rate of .inf or .nan is a typo, not a value
    )


class RunConfig(_Section):
    """Run metadata: how this run is named and described to people and reporting integrations, and how strictly PTBR
    treats keys the installed versions would read nowhere."""

    name: str | None = None
    """Run name, shown by reporting integrations (TrainingArguments.run_name)."""
    tags: list[str] | None = None
    """Tags for the run; passed to the reporting integrations that accept tags (wandb, mlflow)."""
    description: str | None = None
    """Free-text description; passed to the reporting integrations that accept one (wandb notes, mlflow note)."""
    strict: bool = False
    """Refuse keys that the installed versions would read nowhere (e.g. decoder settings without a labels decoder),
    instead of training with a warning for each; the same as `--strict`."""


class ModelConfig(_Section):
    """GLiNER model configuration (GLiNERConfig keys). Unset keys take gliner's defaults. Any other key that a
    config class of the installed gliner declares is accepted and passed through as written."""

    model_config = ConfigDict(extra="allow")

    model_name: str | None = None
    """Backbone encoder: a Hugging Face model id or a local directory. Required unless training.prev_path is set."""
    backbone_from_pretrained: bool = True
    """Load the backbone's pretrained weights; false initialises it at random (a local directory with only
    config.json and tokenizer files, as in examples/)."""
    trust_remote_code: bool = False
    """Allow a backbone, labels encoder or labels decoder whose config declares custom code (``auto_map``): gliner
    loads them with transformers' trust_remote_code=True, which runs that code. When false, `validate` and `train`
    refuse such a model (found in its local directory, or in the hub cache) before anything is built."""
    name: str | None = None
    """Free-form name stored in the model config."""
    model_type: str | None = None
    """Explicit GLiNER architecture. gliner infers it from the other keys (labels_encoder, labels_decoder,
    relations_layer, span_mode) and reads it to select gliner_streaming_span; any other value must be the one it
    infers, or validate refuses it."""
    labels_encoder: str | None = None
    """Separate encoder for entity labels (bi-encoder GLiNER): a model id or local directory."""
    labels_decoder: str | None = None
    """Causal LM that generates labels (encoder-decoder GLiNER): a model id or local directory."""
    decoder_mode: Literal["prompt", "span"] | None = None
    """How the labels decoder is conditioned: on the prompt or on each span."""
    full_decoder_context: bool | None = None
    """Give the labels decoder the full text as context."""
    blank_entity_prob: float | None = Field(None, ge=0, le=1)
    """Probability of blanking an entity label during decoder training."""
    decoder_loss_coef: float | None = Field(None, ge=0)
    """Weight of the decoder loss."""
    span_loss_coef: float | None = Field(None, ge=0)
    """Weight of the span classification loss."""
    token_loss_coef: float | None = Field(None, ge=0)
    """Weight of the token classification loss (token-level models)."""
    relations_layer: str | None = None
    """Relation extraction layer (joint entity-relation models)."""
    triples_layer: str | None = None
    """Triple scoring layer (relation extraction models)."""
    max_width: int | None = Field(None, ge=1)
    """Longest entity span, in words."""
    hidden_size: int | None = Field(None, ge=1)
    """Width of GLiNER's span and label representations."""
    dropout: float | None = Field(None, ge=0, lt=1)
    """Dropout probability in GLiNER's own layers."""
    fine_tune: bool | None = None
    """Meant to choose whether the backbone is trained. gliner 0.2.24 to 0.2.29 store it and read it nowhere, so
    validate refuses false there: freeze the backbone with training.freeze_components: [text_encoder]."""
    subtoken_pooling: Literal["first", "last", "mean", "max"] | None = None
    """How a word's subtokens become one word vector."""
    fuse_layers: bool | None = None
    """Fuse several backbone layers instead of using the last one."""
    post_fusion_schema: str | None = None
    """Post-fusion attention schema, e.g. "l2l-l2t-t2t"; empty for none."""
    num_post_fusion_layers: int | None = Field(None, ge=0)
    """Number of post-fusion layers."""
    represent_spans: bool | None = None
    """Build explicit span representations (decoder and bi-encoder variants)."""
    span_mode: str | None = None
    """Span representation: markerV0, markerV2, token_level, ..."""
    max_types: int | None = Field(None, ge=1)
    """Most entity types per training example."""
    max_len: int | None = Field(None, ge=1)
    """Longest input, in words; longer texts are truncated."""
    max_neg_type_ratio: int | None = Field(None, ge=0)
    """Most sampled negative types per positive type."""
    neg_spans_ratio: float | None = Field(None, ge=0)
    """Ratio of negative spans kept (span-represented variants)."""
    words_splitter_type: str | None = None
    """How raw text is split into words at inference (whitespace, spacy, ...)."""
    num_rnn_layers: int | None = Field(None, ge=0)
    """LSTM layers on top of the backbone (0 for none)."""
    embed_ent_token: bool | None = None
    """Represent a label by its entity-marker token."""
    ent_token: str | None = None
    """Entity marker token added to the tokenizer."""
    sep_token: str | None = None
    """Separator token between labels and text."""
    label_token: str | None = None
    """Label marker token (streaming span models)."""
    right_context_width: int | None = Field(None, ge=0)
    """Streaming span models: words of right context used to rescore recent spans."""
    max_cache_length: int | None = Field(None, ge=1)
    """Streaming span models: longest session cache."""
    span_context_encoder: str | None = None
    """Context encoder over span representations (streaming span models), or "none"."""
    span_context_num_layers: int | None = Field(None, ge=0)
    """Layers of the span context encoder."""
    encoder_config: dict[str, Any] | None = None
    """The backbone's whole config, as a mapping with its model_type: gliner builds the backbone from it instead of
    model_name's config.json (it replaces that config; it does not override single keys)."""
    labels_encoder_config: dict[str, Any] | None = None
    """The labels encoder's whole config, as a mapping with its model_type (replaces labels_encoder's config)."""
    labels_decoder_config: dict[str, Any] | None = None
    """The labels decoder's whole config, as a mapping with its model_type (replaces labels_decoder's config)."""
    span_encoder_config: dict[str, Any] | None = None
    """Span context encoder config, as a mapping."""


class DataConfig(_Section):
    """Where the data lives and where results go."""

    root_dir: str | None = None
    """Output directory for checkpoints, the final model and provenance, unless training.output_dir is set."""
    train_data: str
    """Training data: a JSON list or JSONL file of {"tokenized_text": [...], "ner": [[start, end, label], ...]}."""
    val_data_dir: str | None = None
    """Validation data file in the same format; null or "none" for no validation."""

    _none = field_validator("val_data_dir", mode="before")(_none_string)


class TrainingConfig(_Section):
    """How to train. Every value PTBR passes to the trainer comes from here or from a documented default. Any other
    field of the installed TrainingArguments (transformers' and gliner's) is accepted under its own name, checked
    against its type and forwarded as written, unless PTBR sets it under a key of its own (see below)."""

    prev_path: str | None = None
    """Start from this GLiNER model (id or directory) instead of building one from `model:`; null or "none" for no."""
    output_dir: str | None = None
    """Where checkpoints, the final model and provenance go; defaults to data.root_dir."""
    resume_from_checkpoint: str | bool | None = None
    """Resume optimizer, scheduler and step count from a checkpoint directory, or true for the latest one in the
    output directory."""
    num_steps: int | None = Field(None, ge=1)
    """Number of optimizer steps (TrainingArguments.max_steps). Set this or num_train_epochs."""
    num_train_epochs: float | None = Field(None, gt=0)
    """Train for this many passes over the training data instead of a number of steps (TrainingArguments
    .num_train_epochs). Set this or num_steps."""
    train_batch_size: int = Field(8, ge=1)
    """Examples per device per step."""
    eval_batch_size: int | None = Field(None, ge=1)
    """Examples per device per evaluation step; the train batch size when unset."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Batches accumulated before each optimizer step."""
    eval_every: int = Field(500, ge=1)
    """Evaluate every N steps (when there is validation data); also the default save and logging cadence."""
    eval_steps: int | None = Field(None, ge=1)
    """Evaluate every N steps; eval_every when unset (the original PTBR's override of the evaluation cadence)."""
    eval_strategy: str | None = None
    """When to evaluate: "steps" (every eval_steps), "epoch" or "no"; "steps" when data.val_data_dir is set, else
    "no". Evaluating needs data.val_data_dir."""
    save_strategy: str | None = None
    """When to save a checkpoint: "steps" (every save_steps), "epoch", "no" (or "best" where the installed
    transformers has it); "steps" when unset."""
    logging_strategy: str | None = None
    """When to log the loss: "steps" (every logging_steps), "epoch" or "no"; "steps" when unset."""
    save_steps: int | None = Field(None, ge=1)
    """Save a checkpoint every N steps; eval_every when unset."""
    logging_steps: int | None = Field(None, ge=1)
    """Log the loss every N steps; eval_every when unset."""
    save_total_limit: int | None = Field(None, ge=1)
    """Keep at most N checkpoints (oldest deleted first); all when unset."""
    warmup_steps: float | None = Field(None, ge=0)
    """Warmup length: a number of steps, or a ratio of num_steps when below 1 (upstream writes 0.05 here)."""
    warmup_ratio: float | None = Field(None, ge=0, le=1)
    """Warmup length as a ratio of num_steps. Set this or warmup_steps, not both."""
    scheduler_type: str = "linear"
    """Learning-rate schedule (TrainingArguments.lr_scheduler_type): linear, cosine, constant_with_warmup, ... (the
    names the installed transformers knows)."""
    lr_encoder: float = Field(1e-5, ge=0)
    """Learning rate of the backbone encoder (TrainingArguments.learning_rate)."""
    lr_others: float | None = Field(None, ge=0)
    """Learning rate of the other parameters (GLiNER's heads); lr_encoder when unset. 0.0 freezes them."""
    weight_decay_encoder: float = Field(0.01, ge=0)
    """Weight decay of the backbone encoder (TrainingArguments.weight_decay)."""
    weight_decay_other: float | None = Field(None, ge=0)
    """Weight decay of the other parameters; weight_decay_encoder when unset."""
    max_grad_norm: float = Field(1.0, ge=0)
    """Gradient clipping norm (0 disables clipping)."""
    loss_alpha: float = -1.0
    """Focal loss alpha; negative disables the alpha weighting."""
    loss_gamma: float = Field(0.0, ge=0)
    """Focal loss gamma; 0 disables focusing."""
    loss_prob_margin: float = Field(0.0, ge=0)
    """Focal loss probability margin."""
    label_smoothing: float = Field(0.0, ge=0, le=1)
    """Label smoothing of GLiNER's span loss."""
    loss_reduction: Literal["sum", "mean", "none"] = "sum"
    """How per-span losses are reduced."""
    negatives: float = Field(1.0, ge=0)
    """Ratio of negative spans sampled into the loss."""
    masking: Literal["none", "global", "label", "span"] = "global"
    """Negative masking strategy of GLiNER's loss."""
    freeze_components: list[Literal["text_encoder", "labels_encoder", "decoder"]] | None = None
    """Model components whose weights are not trained."""
    compile_model: bool = False
    """Compile the model with torch.compile before training."""
    seed: int = Field(42, ge=0, le=2**32 - 1)
    """Random seed for model init, data order and sampling (numpy takes at most 2**32 - 1)."""
    bf16: bool = False
    """bfloat16 mixed precision."""
    fp16: bool = False
    """float16 mixed precision (needs a GPU)."""
    use_cpu: bool = False
    """Train on the CPU even when a GPU is available."""
    dataloader_num_workers: int = Field(0, ge=0)
    """Data loading worker processes; 0 loads in the training process."""
    dataloader_pin_memory: bool = True
    """Pin batches in page-locked memory for faster GPU transfer."""
    dataloader_persistent_workers: bool = False
    """Keep data loading workers alive between epochs (needs workers)."""
    dataloader_prefetch_factor: int | None = Field(None, ge=1)
    """Batches each worker loads ahead (needs workers); the torch default when unset."""
    report_to: str | list[str] = "none"
    """Reporting integrations: "none", "all", or names such as tensorboard, wandb, mlflow."""
    size_sup: int = -1
    """Upstream GLiNER key, accepted for compatibility. No gliner release reads it: not forwarded."""
    shuffle_types: bool = True
    """Upstream GLiNER key, accepted for compatibility. No gliner release reads it: not forwarded."""
    random_drop: bool = True
    """Upstream GLiNER key, accepted for compatibility. No gliner release reads it: not forwarded."""
    freeze_token_rep: bool | None = None
    """Upstream's flat layout (2023-11 to 2025-09), accepted for compatibility. No gliner release PTBR supports reads
    it: not forwarded (to freeze the backbone, use freeze_components: [text_encoder])."""
    neg_span_masking: str | None = None
    """Upstream's flat layout (2025-02), accepted for compatibility. No gliner release PTBR supports reads it: not
    forwarded (masking is the negative masking gliner reads)."""
    negative_rate: float | None = None
    """Upstream's flat layout (2024-05), accepted for compatibility. No gliner release PTBR supports reads it: not
    forwarded (negatives is the ratio gliner reads)."""

    _none = field_validator("prev_path", mode="before")(_none_string)


class LoraConfig(_Section):
    """LoRA adapters on the backbone's text encoder, with peft (``pip install "ptbr[lora]"``): each key is the setting
    of that name of peft's LoraConfig, and any other setting of the installed peft's LoraConfig may be given under its
    own name. The encoder's own weights are frozen, GLiNER's other layers train in full; final/ holds the merged model
    and final/adapter the adapter (src/ptbr/lora.py). enabled: false ignores the rest of the section."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    """Train LoRA adapters on the backbone instead of the whole model; false ignores the rest of the section."""
    r: int | None = Field(None, ge=1)
    """LoRA rank."""
    lora_alpha: float | None = Field(None, gt=0)
    """LoRA scaling: the update is scaled by lora_alpha / r."""
    lora_dropout: float | None = Field(None, ge=0, lt=1)
    """Dropout on the LoRA path."""
    bias: Literal["none", "all", "lora_only"] | None = None
    """Which biases are trained with the adapters."""
    target_modules: list[str] | str | None = None
    """Backbone layers that get adapters: names (query_proj, value_proj for DeBERTa-v3; query, value for BERT), a
    regular expression, or "all-linear"; checked against the backbone's layers. Unset: peft's choice for the
    architecture."""
    task_type: str | None = None
    """peft's task type (TOKEN_CLS in the original PTBR): which peft wrapper class holds the encoder."""
    modules_to_save: list[str] | None = None
    """Encoder modules trained in full and saved with the adapter."""


class EnvironmentConfig(_Section):
    """The run's environment, as the original PTBR had it: credentials and settings the Hub and Weights & Biases
    integrations read, for the run only (nothing is left in the calling process's environment). Its report_to,
    push_to_hub and hub_model_id are the training: keys of those names (one name per value)."""

    hf_token: str | None = None
    """Hugging Face token for the run (HF_TOKEN); the ambient HF_TOKEN applies when unset."""
    wandb_project: str | None = None
    """Weights & Biases project (WANDB_PROJECT), when report_to includes wandb."""
    wandb_entity: str | None = None
    """Weights & Biases team or user (WANDB_ENTITY), when report_to includes wandb."""
    wandb_api_key: str | None = None
    """Weights & Biases API key (WANDB_API_KEY), when report_to includes wandb; the ambient one applies when unset."""
    cuda_visible_devices: str | int | None = None
    """GPUs the run may use (CUDA_VISIBLE_DEVICES), e.g. "0" or "0,1", set before training starts."""


class Config(_Section):
    """A PTBR training config."""

    model_config = ConfigDict(json_schema_extra={"title": "PTBR config"})

    run: RunConfig = RunConfig()
    """Run metadata."""
    model: ModelConfig = ModelConfig()
    """GLiNER model configuration."""
    data: DataConfig
    """Data and output locations."""
    training: TrainingConfig
    """Training settings."""
    lora: LoraConfig = LoraConfig()
    """LoRA adapters (the original PTBR's section)."""
    environment: EnvironmentConfig = EnvironmentConfig()
    """The run's environment (the original PTBR's section)."""


SECTIONS: dict[str, type[_Section]] = {
    "run": RunConfig,
    "model": ModelConfig,
    "data": DataConfig,
    "training": TrainingConfig,
    "lora": LoraConfig,
    "environment": EnvironmentConfig,
}


def fields() -> list[str]:
    """Every config field as a dotted path, in declaration order."""
    return [f"{name}.{field}" for name, section in SECTIONS.items() for field in section.model_fields]


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null", dict: "mapping",
          list: "list", Any: "any"}


def type_name(annotation: Any) -> str:
    """A YAML-minded type name: ``integer | null``, ``'sum' | 'mean'``, ``list of string``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is list:
        return f"list of ({type_name(args[0])})" if "|" in type_name(args[0]) else f"list of {type_name(args[0])}"
    if origin is dict:
        return "mapping"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
