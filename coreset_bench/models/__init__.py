"""Keras 3 models of the paper (appendix C) and the training recipe.

- ``mlp`` (MNIST, Fashion-MNIST, digits): flatten -> Dense(128, relu) -> Dense(10).
- ``linear`` (not in the paper): flatten -> Dense(C), a softmax head on the features as they
  are, e.g. a linear probe on precomputed embeddings (``dataset=npy``); its embedding is the
  (flattened) input itself.
- ``cnn`` (CIFAR-10): Conv(32,3)-Pool-Conv(64,3)-Pool-Conv(64,3)-Flatten-Dense(128)-Dense(64)-
  Dense(10), relu: three conv and three dense layers as the paper says (sizes from PROTOCOL.md).
- ``cnn_distil`` (CIFAR-10's default): DISTIL's CifarNet (decile-team/distil,
  ``distil/utils/models/cifar10net.py``), the setup the paper says it largely follows:
  Conv(64,3)-Pool-Conv(128,3)-Pool-Conv(256,3)-Pool-Flatten-Dense(128)-Dense(256) [embedding]-
  Dense(10), relu. DISTIL's random crop / flip augmentation is not applied (no model here is).

The last hidden layer is named ``embedding``; its output is the embedding the samplers use.
Outputs are logits; losses use ``from_logits=True``. The recipe (from scratch, Adam 1e-3,
batch 32, 10 epochs, sparse categorical cross-entropy) comes from the ``train`` config.
Seeds: each build and each fit calls ``set_random_seed`` (Keras's ``keras.utils.set_random_seed``,
TensorFlow's seed left out where TensorFlow is not imported) with a seed derived for that
component, at run time (never at import).

These functions are the reference engine, ``keras_fit``: one model at a time through Keras'
``fit`` / ``evaluate``, on whichever backend is active. ``per_example_grad_sqnorm`` is the
TensorFlow version of the per-example gradient norms (on JAX, ``models.vmap.Arch.grad_sqnorm``). The ``vmap`` engine
(``models.vmap``) trains many models of one of these architectures at once; ``models.engines``
chooses between them. Keras is imported lazily, after ``backend.activate`` picked the job's
backend (a bare import of this module loads no framework).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence

import numpy as np

from ..config import MODELS_BY_TASK
from ..errors import ConfigError
from . import backend

MODELS = MODELS_BY_TASK["classification"]
EMBEDDING = "embedding"


def _keras():
    """The keras module of the active backend (activating the environment's, default
    tensorflow, if no job chose one yet)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    return backend.activate(os.environ.get("KERAS_BACKEND", "tensorflow"))


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed``: Python's, NumPy's and Keras's seeds, and TensorFlow's
    where TensorFlow is imported. Keras would import TensorFlow (about 5 s) only to seed it;
    a job that never imported it (the ``vmap`` engine, on JAX) does not use its random numbers."""
    keras = _keras()
    if "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    from keras.src.utils import module_utils

    lazy = module_utils.tensorflow
    if "_available" not in vars(lazy):   # another Keras (not getattr: that would import it)
        keras.utils.set_random_seed(seed)
        return
    saved, lazy._available = lazy._available, False
    try:
        keras.utils.set_random_seed(seed)
    finally:
        lazy._available = saved


def _mlp(input_shape: Sequence[int], num_classes: int, hidden_units: int = 128):
    keras = _keras()
    inputs = keras.Input(shape=tuple(input_shape))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(hidden_units, activation="relu", name=EMBEDDING)(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name="mlp")


def _linear(input_shape: Sequence[int], num_classes: int):
    keras = _keras()
    inputs = keras.Input(shape=tuple(input_shape))
    h = keras.layers.Flatten(name=EMBEDDING)(inputs)   # the features are the embedding
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name="linear")


def _cnn(input_shape: Sequence[int], num_classes: int, conv_filters: Sequence[int],
         kernel_size: int, dense_units: Sequence[int], pool_last: bool = False,
         name: str = "cnn"):
    keras = _keras()
    inputs = keras.Input(shape=tuple(input_shape))
    h = inputs
    for i, filters in enumerate(conv_filters):
        h = keras.layers.Conv2D(int(filters), int(kernel_size), activation="relu")(h)
        if pool_last or i < len(conv_filters) - 1:
            h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    for i, units in enumerate(dense_units):
        layer_name = EMBEDDING if i == len(dense_units) - 1 else None
        h = keras.layers.Dense(int(units), activation="relu", name=layer_name)(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def _cnn_distil(input_shape: Sequence[int], num_classes: int, conv_filters: Sequence[int],
                kernel_size: int, dense_units: Sequence[int]):
    # DISTIL's CifarNet pools after every convolution (2x2x256 before the dense layers).
    return _cnn(input_shape, num_classes, conv_filters, kernel_size, dense_units,
                pool_last=True, name="cnn_distil")


def build(name: str, input_shape: Sequence[int], num_classes: int, *, seed: int,
          **params: Any):
    """A fresh, seeded, uncompiled ``keras.Model`` ``name`` (``params``: the model config's keys)."""
    builders = {"mlp": _mlp, "cnn": _cnn, "cnn_distil": _cnn_distil, "linear": _linear}
    if name not in builders:
        raise ConfigError(f"unknown model {name!r}; valid choices: {', '.join(MODELS)}")
    set_random_seed(seed)
    try:
        return builders[name](input_shape, num_classes, **params)
    except (TypeError, ValueError) as exc:  # unknown or impossible parameters
        raise ConfigError(f"model {name}: {exc}") from None


def check_recipe(recipe: Mapping[str, Any]) -> None:
    """ConfigError for a training recipe that cannot run (checked before any training)."""
    if recipe.get("optimizer", "adam") != "adam":
        raise ConfigError(f"train.optimizer={recipe['optimizer']!r} is not valid; valid choices: adam")
    for key in ("batch_size", "epochs"):
        value = recipe.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"train.{key}={value!r} must be a positive integer")
    lr = recipe.get("learning_rate")
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"train.learning_rate={lr!r} must be a positive number")


def fit(model, x: np.ndarray, y: np.ndarray, recipe: Mapping[str, Any], *,
        seed: int, sample_weight: np.ndarray | None = None):
    """Compile and train ``model`` with the recipe (Adam, learning rate, batch size, epochs)."""
    keras = _keras()
    check_recipe(recipe)
    set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(recipe["learning_rate"])),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=bool(recipe.get("jit_compile", False)),
    )
    model.fit(x, y, batch_size=int(recipe["batch_size"]), epochs=int(recipe["epochs"]),
              sample_weight=sample_weight, shuffle=True, verbose=0)
    return model


def embed(model, x: np.ndarray, *, with_probs: bool = False,
          batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray | None]:
    """Last-hidden-layer embeddings of ``x`` (and softmax probabilities if asked), one pass."""
    keras = _keras()
    emb_layer = model.get_layer(EMBEDDING)
    outputs = [emb_layer.output, model.output] if with_probs else [emb_layer.output]
    probe = keras.Model(model.input, outputs)
    emb, logits = [], []
    for start in range(0, len(x), batch_size):
        out = probe(x[start:start + batch_size], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        emb.append(keras.ops.convert_to_numpy(out[0]))
        if with_probs:
            logits.append(keras.ops.convert_to_numpy(keras.ops.softmax(out[1], axis=-1)))
    embeddings = np.concatenate(emb).astype(np.float32)
    return embeddings, (np.concatenate(logits).astype(np.float64) if with_probs else None)


def per_example_loss(model, x: np.ndarray, y: np.ndarray,
                     batch_size: int = 2048) -> np.ndarray:
    """Cross-entropy of ``model`` on each example (one inference per example)."""
    keras = _keras()
    out = []
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size], training=False)
        loss = keras.losses.sparse_categorical_crossentropy(
            y[start:start + batch_size], logits, from_logits=True)
        out.append(keras.ops.convert_to_numpy(loss))
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def per_example_grad_sqnorm(model, x: np.ndarray, y: np.ndarray,
                            chunk: int = 64) -> np.ndarray:
    """||grad_theta L(y_i, model(x_i))||_2^2 over all trainable parameters, per example."""
    keras = _keras()
    if keras.backend.backend() != "tensorflow":  # the jax version: models.vmap.Arch.grad_sqnorm
        raise ConfigError("per_example_grad_sqnorm is the TensorFlow version; on jax use the "
                          "engine's grad_sqnorm")
    tf = backend.import_tensorflow()

    variables = [v.value for v in model.trainable_variables]

    @tf.function(reduce_retracing=True)
    def sqnorms(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True)
        jac = tape.jacobian(losses, variables)
        n = tf.shape(xb)[0]
        return tf.add_n([tf.reduce_sum(tf.reshape(tf.square(j), (n, -1)), axis=1) for j in jac])

    out = [sqnorms(tf.constant(x[s:s + chunk]), tf.constant(y[s:s + chunk])).numpy()
           for s in range(0, len(x), chunk)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def evaluate(model, x: np.ndarray, y: np.ndarray,
             batch_size: int = 2048) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on (x, y)."""
    loss, acc = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    return float(acc), float(loss)
