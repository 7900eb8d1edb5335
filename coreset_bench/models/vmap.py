"""The ``vmap`` engine: many independent models of one Keras architecture trained at once on JAX.

Every model keeps what makes it a separate run: its own initial weights (the Keras builder
seeded with the model's seed), its own training points and optional sample weights, its own
per-epoch shuffle (``np.random.default_rng(fit_seed)``), its own Adam state. They share only
the architecture and the number of optimizer steps (same number of training points).

How: the Keras model is built once per architecture (``Arch``) and called functionally
(``stateless_call``); one optimizer step of all N models is ``jax.vmap`` of a per-model step,
and ``CHUNK`` steps run in one compiled ``lax.scan``. The plan of every step (which rows of the
pool each model sees, with which weight) is drawn in numpy beforehand, padded to ``batch_size``
rows with weight 0 (the last, partial batch of an epoch) and to a multiple of ``CHUNK`` steps
with inactive steps (no update). One compilation per (architecture, N, dataset shape) serves
every budget.

The step is the recipe of ``models.fit`` (Keras ``fit``): batches of ``batch_size`` from a fresh
permutation each epoch, the last one partial; loss = sum(w_i * CE_i) / (rows in the batch), as
Keras' ``sum_over_batch_size`` reduction; Adam exactly as ``keras.optimizers.Adam``
(beta 0.9 / 0.999, epsilon 1e-7, bias correction folded into the step size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from . import backend

CHUNK = 32          # optimizer steps per compiled call
EVAL_CHUNK = 2048   # rows per compiled forward pass
# Device memory for the layer outputs of one evaluation pass of all a group's models together:
# a pass of 11 DISTIL CNNs on 2,048 images asked for 6 GiB and ran out of memory on a GPU shared
# by 9 workers; with this, it takes 192 rows at a time. (The MLPs keep EVAL_CHUNK rows.)
EVAL_BYTES = 1 << 30
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


@dataclass
class FitSpec:
    """One model to train: pool rows ``rows``, weights (None = 1), seeds of init and fit."""

    rows: np.ndarray
    init_seed: int
    fit_seed: int
    weights: np.ndarray | None = None


@dataclass
class Model:
    """A trained model of the vmap engine: its architecture and weight arrays."""

    arch: "Arch"
    params: list  # one array per trainable variable, in the template's order


def batch_plan(n: int, batch_size: int, epochs: int, rng: np.random.Generator,
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras ``fit(shuffle=True)``'s batches over ``n`` points as fixed-shape arrays.

    Returns ``idx`` (steps, batch_size) positions into the n points (0 where padded), ``w``
    (steps, batch_size) the sample weight of each slot (0 where padded) and ``count`` (steps,)
    the number of real points in each batch.
    """
    per_epoch = -(-n // batch_size)
    idx = np.zeros((epochs * per_epoch, batch_size), np.int32)
    w = np.zeros((epochs * per_epoch, batch_size), np.float32)
    base = np.ones(n, np.float32) if weights is None else np.asarray(weights, np.float32)
    for e in range(epochs):
        perm = rng.permutation(n)
        for b in range(per_epoch):
            part = perm[b * batch_size:(b + 1) * batch_size]
            idx[e * per_epoch + b, :len(part)] = part
            w[e * per_epoch + b, :len(part)] = base[part]
    count = np.full(epochs * per_epoch, batch_size, np.float32)
    if n % batch_size:
        count[per_epoch - 1::per_epoch] = n % batch_size
    return idx, w, count


class Arch:
    """One architecture on the JAX backend: the Keras template and its compiled functions."""

    def __init__(self, name: str, params: Mapping[str, Any], input_shape: Sequence[int],
                 num_classes: int):
        import jax
        import jax.numpy as jnp

        from . import EMBEDDING, build

        self.key = (name, _freeze(params), tuple(input_shape), num_classes)
        self.name, self.model_params = name, dict(params)
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        keras = backend.activate("jax", with_tensorflow=False)
        self.template = build(name, input_shape, num_classes, seed=0, **params)
        self.probe = keras.Model(self.template.input,
                                 [self.template.get_layer(EMBEDDING).output, self.template.output])
        ids = [id(v) for v in self.template.trainable_variables]
        self._probe_order = [ids.index(id(v)) for v in self.probe.trainable_variables]
        self._data: dict = {}
        self._jax, self._jnp = jax, jnp
        self.activation_bytes = activation_bytes(self.template)

        def logits_fn(p, x):
            return self.template.stateless_call(p, [], x, training=False)[0]

        def probe_fn(p, x):
            return self.probe.stateless_call([p[i] for i in self._probe_order], [], x,
                                             training=False)[0]

        def ce(logits, y):
            return jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(
                logits, y[:, None], axis=-1)[:, 0]

        def batch_loss(p, xb, yb, wb, count):
            return jnp.sum(wb * ce(logits_fn(p, xb), yb)) / count

        def adam_step(p, m, v, xb, yb, wb, count, t, lr):
            g = jax.grad(batch_loss)(p, xb, yb, wb, count)
            alpha = lr * jnp.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)
            m = [mi + (gi - mi) * (1 - BETA_1) for mi, gi in zip(m, g)]
            v = [vi + (gi * gi - vi) * (1 - BETA_2) for vi, gi in zip(v, g)]
            p = [pi - (mi * alpha) / (jnp.sqrt(vi) + EPSILON) for pi, mi, vi in zip(p, m, v)]
            return p, m, v

        steps = jax.vmap(adam_step, in_axes=(0, 0, 0, 0, 0, 0, 0, None, None))

        def train_chunk(state, x_all, y_all, idx, w, count, active, lr):
            def body(carry, inp):
                p, m, v, t = carry
                idx_s, w_s, count_s, act = inp
                t_next = t + 1.0
                p2, m2, v2 = steps(p, m, v, x_all[idx_s], y_all[idx_s], w_s, count_s, t_next, lr)
                keep = lambda new, old: [jnp.where(act, a, b) for a, b in zip(new, old)]  # noqa: E731
                return (keep(p2, p), keep(m2, m), keep(v2, v), jnp.where(act, t_next, t)), None

            state, _ = jax.lax.scan(body, state, (idx, w, count, active))
            return state

        self._train_chunk = jax.jit(train_chunk)
        self._logits = jax.jit(jax.vmap(logits_fn, in_axes=(0, None)))
        self._probe = jax.jit(probe_fn)
        self._ce = jax.jit(jax.vmap(ce, in_axes=(0, None)))

        def sqnorm(p, x, y):
            def one(xi, yi):
                g = jax.grad(lambda q: ce(logits_fn(q, xi[None]), yi[None])[0])(p)
                return sum(jnp.sum(gi * gi) for gi in g)
            return jax.vmap(one)(x, y)

        self._sqnorm = jax.jit(sqnorm)
        self._loss1 = jax.jit(lambda p, x, y: ce(logits_fn(p, x), y))

    # -- data ----------------------------------------------------------------------------
    def device_data(self, x: np.ndarray, y: np.ndarray):
        """``x``, ``y`` as device arrays, kept while the same arrays are used (the pool)."""
        key = (id(x), x.shape, id(y))
        if key not in self._data:
            self._data.clear()
            self._data[key] = (self._jnp.asarray(x, dtype=self._jnp.float32),
                               self._jnp.asarray(y, dtype=self._jnp.int32), x, y)
        return self._data[key][:2]

    # -- training ------------------------------------------------------------------------
    def init_params(self, seed: int) -> list[np.ndarray]:
        from . import build

        model = build(self.name, self.input_shape, self.num_classes, seed=seed, **self.model_params)
        return [np.asarray(v.value) for v in model.trainable_variables]

    def train(self, x_pool: np.ndarray, y_pool: np.ndarray, specs: Sequence[FitSpec],
              recipe: Mapping[str, Any]) -> list[Model]:
        """Train one model per spec, all at once; every spec must have as many rows."""
        jnp = self._jnp
        sizes = {len(s.rows) for s in specs}
        if len(sizes) != 1:
            raise ValueError(f"vmap trains models of equal training-set size together, got {sizes}")
        bs, epochs = int(recipe["batch_size"]), int(recipe["epochs"])
        plans = [batch_plan(len(s.rows), bs, epochs, np.random.default_rng(s.fit_seed), s.weights)
                 for s in specs]
        idx = np.stack([np.asarray(s.rows, np.int32)[p[0]] for s, p in zip(specs, plans)], 1)
        w = np.stack([p[1] for p in plans], 1)
        count = np.stack([p[2] for p in plans], 1)
        n_steps = idx.shape[0]
        pad = (-n_steps) % CHUNK
        if pad:
            idx = np.concatenate([idx, np.zeros((pad, *idx.shape[1:]), idx.dtype)])
            w = np.concatenate([w, np.zeros((pad, *w.shape[1:]), w.dtype)])
            count = np.concatenate([count, np.ones((pad, *count.shape[1:]), count.dtype)])
        active = np.arange(len(idx)) < n_steps
        x_all, y_all = self.device_data(x_pool, y_pool)
        inits = [self.init_params(s.init_seed) for s in specs]
        params = [jnp.asarray(np.stack(vs)) for vs in zip(*inits)]
        zeros = [jnp.zeros_like(p) for p in params]
        state = (params, zeros, list(zeros), jnp.float32(0.0))
        lr = jnp.float32(recipe["learning_rate"])
        for s in range(0, len(idx), CHUNK):
            state = self._train_chunk(state, x_all, y_all, idx[s:s + CHUNK], w[s:s + CHUNK],
                                      count[s:s + CHUNK], active[s:s + CHUNK], lr)
        final = [np.asarray(p) for p in state[0]]
        return [Model(self, [p[i] for p in final]) for i in range(len(specs))]

    # -- inference -----------------------------------------------------------------------
    def _chunks(self, x: np.ndarray, size: int = EVAL_CHUNK):
        """Fixed-shape chunks of ``x`` (the last padded), so each function compiles once."""
        for s in range(0, len(x), size):
            part = x[s:s + size]
            n = len(part)
            if n < size:
                part = np.concatenate([part, np.zeros((size - n, *part.shape[1:]), part.dtype)])
            yield s, n, part

    def eval_rows(self, n_models: int) -> int:
        """Rows per evaluation pass of ``n_models`` models: EVAL_CHUNK, or fewer (a multiple of
        64) where their layer outputs would exceed EVAL_BYTES."""
        fit = EVAL_BYTES // max(1, self.activation_bytes * n_models)
        return int(min(EVAL_CHUNK, max(64, fit // 64 * 64)))

    def evaluate(self, models: Sequence[Model], x: np.ndarray, y: np.ndarray
                 ) -> list[tuple[float, float]]:
        """(accuracy, mean cross-entropy) of every model on (x, y), all in one pass."""
        jnp = self._jnp
        params = [jnp.asarray(np.stack(vs)) for vs in zip(*(m.params for m in models))]
        correct = np.zeros(len(models))
        loss = np.zeros(len(models))
        y32 = np.asarray(y, np.int32)
        for s, n, part in self._chunks(np.asarray(x, np.float32), self.eval_rows(len(models))):
            yb = np.zeros(len(part), np.int32)
            yb[:n] = y32[s:s + n]
            logits = self._logits(params, part)
            ce = np.asarray(self._ce(logits, yb))[:, :n]
            pred = np.asarray(jnp.argmax(logits, axis=-1))[:, :n]
            correct += (pred == y32[s:s + n]).sum(1)
            loss += ce.astype(np.float64).sum(1)
        return [(float(c / len(x)), float(lo / len(x))) for c, lo in zip(correct, loss)]

    def embed(self, model: Model, x: np.ndarray, *, with_probs: bool = False
              ) -> tuple[np.ndarray, np.ndarray | None]:
        jax = self._jax
        params = [self._jnp.asarray(p) for p in model.params]
        emb, probs = [], []
        for _, n, part in self._chunks(np.asarray(x, np.float32)):
            e, logits = self._probe(params, part)
            emb.append(np.asarray(e)[:n])
            if with_probs:
                probs.append(np.asarray(jax.nn.softmax(logits, axis=-1))[:n])
        return (np.concatenate(emb).astype(np.float32),
                np.concatenate(probs).astype(np.float64) if with_probs else None)

    def _per_example(self, fn, model: Model, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
        """``fn(params, x_chunk, y_chunk)`` over fixed-size labelled chunks, padding dropped."""
        params = [self._jnp.asarray(p) for p in model.params]
        out = []
        for s, n, part in self._chunks(np.asarray(x, np.float32), size):
            yb = np.zeros(len(part), np.int32)
            yb[:n] = y[s:s + n]
            out.append(np.asarray(fn(params, part, yb))[:n])
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def per_example_loss(self, model: Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._per_example(self._loss1, model, x, y, 256)

    def grad_sqnorm(self, model: Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """||grad_theta CE(y_i, model(x_i))||^2 over all trainable parameters, per example."""
        return self._per_example(self._sqnorm, model, x, y, 64)


_ARCHS: dict = {}


def activation_bytes(model) -> int:
    """float32 outputs of every layer of a Keras ``model`` for one input row: an upper bound of
    what one row keeps live in a forward pass (``Arch.eval_rows``, the GPU script's footprint)."""
    return 4 * sum(int(np.prod([int(d) for d in layer.output.shape[1:]])) for layer in model.layers[1:])


def _freeze(params: Mapping[str, Any]) -> str:
    """A hashable form of model parameters (lists such as the CNN's conv_filters included)."""
    return json.dumps(dict(params), sort_keys=True, default=str)


def arch(name: str, params: Mapping[str, Any], input_shape: Sequence[int], num_classes: int) -> Arch:
    """The compiled architecture, built once per worker process (and again after a backend
    switch, which invalidates Keras objects)."""
    import keras

    key = (name, _freeze(params), tuple(input_shape), num_classes, id(keras))
    if key not in _ARCHS:
        _ARCHS.clear()
        _ARCHS[key] = Arch(name, params, input_shape, num_classes)
    return _ARCHS[key]
