"""fastrnn.course: the DeepLearning.AI "Sequence Models" week-1 assignments, on fastrnn kernels.

Public. Two modules reproduce the course's functions with their exact names,
signatures, dict keys, cache layouts, printed output and legacy-RNG use
(see COURSE_SPEC.md), while every recurrence runs on the kernels of the active
backend (``fastrnn.set_backend("cython" | "numpy")``):

- :mod:`fastrnn.course.step_by_step`: W1A1 "Building a Recurrent Neural Network -
  Step by Step" (``rnn_cell_forward``, ``rnn_forward``, ``rnn_cell_backward``,
  ``rnn_backward``, ``lstm_cell_forward``, ``lstm_forward``, ``lstm_cell_backward``,
  ``lstm_backward``).
- :mod:`fastrnn.course.dinosaurus`: W1A2 "Dinosaurus Island" (``clip``, ``sample``,
  ``optimize``, ``model`` and the ``utils.py`` helpers).

Usage::

    from fastrnn.course import dinosaurus as dino
    data = open("dinos.txt").read().lower()
    chars = sorted(set(data))
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    ix_to_char = {i: ch for i, ch in enumerate(chars)}
    parameters, last_name = dino.model(data.split("\\n"), ix_to_char, char_to_ix, 22001)
"""

from . import dinosaurus, step_by_step  # noqa: F401

__all__ = ["dinosaurus", "step_by_step"]
