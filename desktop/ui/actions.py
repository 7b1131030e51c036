"""Making actions, and placing them in the menus and the toolbar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QStyle

#: a menu: (title, actions; None is a separator)
MenuSpec = tuple[str, Sequence[QAction | None]]


def make_action(
    window: QMainWindow,
    text: str,
    icon: QStyle.StandardPixmap | None,
    shortcut: Any,
    slot: Callable[[], Any],
) -> QAction:
    """An action with a standard style icon (no icon files needed) and a shortcut."""
    action = QAction(text, window)
    if icon is not None:
        action.setIcon(window.style().standardIcon(icon))
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(slot)
    return action


def install_menus(window: QMainWindow, menus: Sequence[MenuSpec]) -> None:
    for title, actions in menus:
        menu = window.menuBar().addMenu(title)
        for a in actions:
            if a is None:
                menu.addSeparator()
            else:
                menu.addAction(a)


def install_toolbar(window: QMainWindow, actions: Sequence[QAction | None]) -> None:
    tb = window.addToolBar("Main")
    tb.setObjectName("main_toolbar")
    tb.setMovable(False)
    tb.setIconSize(QSize(20, 20))
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for a in actions:
        if a is None:
            tb.addSeparator()
        else:
            tb.addAction(a)
