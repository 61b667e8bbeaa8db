"""Using the learner's answer in the cells after an exercise, or the lesson's own version (all lessons).

A lesson whose later cells call the learner's function (or class) must still show its results
when the answer is missing or wrong.  :func:`learner_or_lesson` decides which one those cells
use and says so in one printed sentence.  The lesson's own version is written in the lesson
itself, after the exercise's test cell (utils holds no reference answer), and so is the
``problem`` function that compares the two on a few probes.  Nothing runs at import.
"""
from __future__ import annotations

from typing import Callable


def learner_or_lesson(namespace: dict, name: str, lesson_version, problem: Callable[[object], str | None]):
    """The learner's ``namespace[name]`` if it is defined and ``problem(it)`` finds nothing, else ``lesson_version``.

    ``problem(candidate)`` returns ``None`` when the candidate behaves like the lesson's version
    on the lesson's probes, or a short phrase saying what differs ("returns 0.25 for ...").
    An exception raised while probing counts as a problem.  Prints which version the following
    cells use, and why.
    """
    candidate = namespace.get(name)
    if candidate is None:
        reason = "is not defined yet"
    else:
        try:
            reason = problem(candidate)
        except NotImplementedError:  # the answer cell as handed out
            reason = "is not written yet"
        except Exception as error:  # a wrong answer may raise anything; the lesson goes on
            reason = f"raised {type(error).__name__} ({str(error)[:80]})"
    if reason is None:
        print(f"The cells below use your {name}.")
        return candidate
    print(f"Your {name} {reason}, so the cells below use the lesson's own version (defined in this "
          f"cell) to show their results; fix your answer and run them again to see it at work.")
    return lesson_version
