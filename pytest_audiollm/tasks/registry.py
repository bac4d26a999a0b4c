"""The task-kind registry (what ``pytest_audiollm_register_task_kinds`` receives)."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.registry import Registry
from pytest_audiollm.tasks.base import TaskKind

__all__ = ["TaskKindRegistry"]


class TaskKindRegistry(Registry[TaskKind]):
    """Task kinds by name; each says which ``task:`` values it runs (a task belongs to one kind)."""

    kind = "task kind"

    def add(self, name: str, value: TaskKind, description: str = "") -> None:
        """Register ``value`` (a TaskKind instance) as ``name``; its tasks must not belong to another kind."""
        if not isinstance(value, TaskKind):
            raise TypeError(f"a task kind must be a pytest_audiollm.TaskKind instance, got {type(value).__name__}")
        for task in value.tasks:
            owner = self.for_task(task)
            if owner is not None and owner.name != name:
                raise AudioLLMError(
                    f"task kind {name!r} claims task {task!r}, which task kind {owner.name!r} runs already: "
                    f"give the task another name"
                )
        super().add(name, value, description or value.description)

    def for_task(self, task: str) -> TaskKind | None:
        """The kind that runs ``task:`` values ``task``, or None."""
        return next((kind for kind in self.parsers() if task in kind.tasks), None)

    def task_names(self) -> tuple[str, ...]:
        """Every task name, kinds in registration order."""
        return tuple(task for kind in self.parsers() for task in kind.tasks)

    def parsers(self) -> Sequence[TaskKind]:
        return [entry.value for entry in self._entries.values()]

    def close(self) -> None:
        for entry in self:
            entry.value.close()
