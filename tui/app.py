"""The full-screen layout: host and guest contexts side by side, hyp state, code, logs.

At 120 columns or more the host, guest and hyp panes sit side by side; on a
narrower terminal every pane is stacked. The choice is made at each redraw
from the space actually given, so a resize re-lays the screen. Against a stub
without worlds (QEMU) the host pane shows the current CPU and the guest, hyp
and exit panes are left out.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Callable, Iterable, List, Optional

from prompt_toolkit.application import Application
from prompt_toolkit.application.current import set_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import Layout
from prompt_toolkit.layout.containers import (ConditionalContainer, Container, Float, FloatContainer,
                                              HSplit, ScrollOffsets, VSplit, Window)
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from prompt_toolkit.layout.dimension import Dimension as D
from prompt_toolkit.layout.menus import CompletionsMenu
from prompt_toolkit.layout.mouse_handlers import MouseHandlers
from prompt_toolkit.layout.processors import BeforeInput
from prompt_toolkit.layout.screen import Screen, WritePosition
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style
from prompt_toolkit.widgets import Frame

from . import commands as C
from . import panes
from .session import Session, View
from .state import HOST_TID, HYP_TID, World

#: Below this width the panes are stacked instead of side by side.
WIDE_COLUMNS = 120
CONTEXT_ROWS = 24

STYLE = Style.from_dict({
    "frame.border": "#5f87af",
    "frame.label": "bold",
    "name": "#87afd7",
    "value": "",
    "changed": "bold #ffd700",
    "live": "bold #87d787",
    "dim": "#808080",
    "note": "#afafaf",
    "sym": "#d7af87",
    "pc": "reverse bold",
    "bp": "#ff5f5f",
    "key": "reverse",
    "footer": "",
    "status": "bold",
})


class Responsive(Container):
    """Draws ``wide`` when given at least ``columns`` columns, else ``narrow``."""

    def __init__(self, wide: Container, narrow: Container, columns: int = WIDE_COLUMNS) -> None:
        self.wide, self.narrow, self.columns = wide, narrow, columns
        self.current = wide

    def _pick(self, width: int) -> Container:
        self.current = self.wide if width >= self.columns else self.narrow
        return self.current

    def reset(self) -> None:
        self.wide.reset()
        self.narrow.reset()

    def preferred_width(self, max_available_width: int) -> D:
        return self._pick(max_available_width).preferred_width(max_available_width)

    def preferred_height(self, width: int, max_available_height: int) -> D:
        return self._pick(width).preferred_height(width, max_available_height)

    def write_to_screen(self, screen: Screen, mouse_handlers: MouseHandlers, write_position: WritePosition,
                        parent_style: str, erase_bg: bool, z_index: Optional[int]) -> None:
        self._pick(write_position.width).write_to_screen(screen, mouse_handlers, write_position,
                                                         parent_style, erase_bg, z_index)

    def get_children(self) -> List[Container]:
        return [self.current]


class Pinned(Container):
    """Calls ``pin()`` before each redraw of ``body``, then draws it."""

    def __init__(self, body: Container, pin: Callable[[], None]) -> None:
        self.body, self.pin = body, pin

    def reset(self) -> None:
        self.body.reset()

    def preferred_width(self, max_available_width: int) -> D:
        return self.body.preferred_width(max_available_width)

    def preferred_height(self, width: int, max_available_height: int) -> D:
        return self.body.preferred_height(width, max_available_height)

    def write_to_screen(self, screen: Screen, mouse_handlers: MouseHandlers, write_position: WritePosition,
                        parent_style: str, erase_bg: bool, z_index: Optional[int]) -> None:
        self.pin()
        self.body.write_to_screen(screen, mouse_handlers, write_position, parent_style, erase_bg, z_index)

    def get_children(self) -> List[Container]:
        return [self.body]


class CommandCompleter(Completer):
    """Commands, then symbols / registers / catch kinds, from :func:`commands.complete`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        prefix = "" if text.endswith(" ") or not text else text.split()[-1]
        for word in C.complete(text, self.session.symbols.names(), self.session.register_names):
            yield Completion(word, start_position=-len(prefix))


def _tail(get: Callable[[], panes.Fragments]) -> Window:
    """A window that always shows the end of its text (logs grow at the bottom)."""
    return Window(FormattedTextControl(lambda: panes.cursor_at_end(get())), wrap_lines=False)


class TuiApp:
    """The prompt_toolkit application over a :class:`Session`."""

    def __init__(self, session: Session, uart: Optional[Callable[[], str]] = None,
                 input: Optional[Input] = None, output: Optional[Output] = None) -> None:
        self.session = session
        self.uart = uart
        self.buffer = Buffer(multiline=False, history=InMemoryHistory(), completer=CommandCompleter(session),
                             complete_while_typing=False, accept_handler=self._accept)
        self.v: View = session.view()
        worlds = Condition(lambda: self.v.snapshot.has_worlds)
        hyp = Condition(lambda: bool(self.v.snapshot.hyp))
        exits = Condition(lambda: self.session.has_monitor_views)
        self.windows = {
            "host": Window(FormattedTextControl(self._host), wrap_lines=False),
            "guest": Window(FormattedTextControl(self._guest), wrap_lines=False),
            "hyp": Window(FormattedTextControl(self._hyp), wrap_lines=False),
            "code": Window(FormattedTextControl(self._code), wrap_lines=False,
                           scroll_offsets=ScrollOffsets(top=4, bottom=4)),
            "exits": _tail(self._exits),
            "uart": _tail(self._uart),
            "messages": _tail(self._messages),
        }
        self.command_window = Window(BufferControl(self.buffer, input_processors=[BeforeInput("(hypdbg) ")]),
                                     height=1)
        footer = Window(FormattedTextControl(lambda: panes.footer(self.v.snapshot.status)), height=1,
                        style="class:footer")

        def frame(name: str, title: Callable[[], str], when: Optional[Condition] = None, **kw: object) -> Container:
            box = Frame(self.windows[name], title=title, **kw)    # type: ignore[arg-type]
            return ConditionalContainer(box, filter=when) if when is not None else box

        def fit(content: Callable[[], panes.Fragments]) -> Callable[[], D]:
            """A context pane is as tall as its text, up to CONTEXT_ROWS (frame included)."""
            return lambda: D(min=3, preferred=min(CONTEXT_ROWS, panes.line_count(content()) + 2),
                             max=CONTEXT_ROWS)

        def contexts(side_by_side: bool) -> List[Container]:
            width = {"width": D(min=36, preferred=42, max=48)} if side_by_side else {}
            return [frame("host", self._host_title, height=fit(self._host), **width),
                    frame("guest", self._guest_title, worlds, height=fit(self._guest), **width),
                    frame("hyp", lambda: " hyp ", hyp, height=fit(self._hyp))]

        wide = HSplit([
            VSplit(contexts(True)),
            VSplit([frame("code", self._code_title, width=D(weight=3)),
                    frame("exits", lambda: " exits ", exits, width=D(weight=2))]),
            VSplit([frame("uart", lambda: " UART ", height=D(min=3, preferred=8)),
                    frame("messages", lambda: " messages ", height=D(min=3, preferred=8))]),
        ])
        narrow = HSplit(contexts(False) + [
            frame("code", self._code_title, height=D(min=4, preferred=16)),
            frame("exits", lambda: " exits ", exits, height=D(min=3, preferred=8)),
            frame("uart", lambda: " UART ", height=D(min=3, preferred=6)),
            frame("messages", lambda: " messages ", height=D(min=3, preferred=8)),
        ])
        self.body = Pinned(HSplit([Responsive(wide, narrow), self.command_window, footer]), self._pin)
        root = FloatContainer(self.body, floats=[
            Float(xcursor=True, ycursor=True, content=CompletionsMenu(max_height=12, scroll_offset=1))])
        self.app: Application = Application(layout=Layout(root, focused_element=self.command_window),
                                            key_bindings=self._keys(), style=STYLE, full_screen=True,
                                            input=input, output=output, mouse_support=False)
        session.on_change = self.changed

    def changed(self) -> None:
        """The session has news (any thread): redraw, or leave if it was told to quit."""
        if self.session.wants_quit and self.app.is_running and self.app.loop is not None:
            self.app.loop.call_soon_threadsafe(self.leave)
            return
        self.app.invalidate()

    def leave(self) -> None:
        """End the application (once; on the UI thread)."""
        if self.app.is_running and not self.app.is_done:
            self.app.exit(result=0)

    # -- keys and the command line -----------------------------------------------------

    def _keys(self) -> KeyBindings:
        kb = KeyBindings()
        running = Condition(lambda: self.session.gdb.running)

        @kb.add("f5")
        def _continue(event: KeyPressEvent) -> None:
            self.run("continue")

        @kb.add("f10")
        def _next(event: KeyPressEvent) -> None:
            self.run("next")

        @kb.add("f11")
        def _stepi(event: KeyPressEvent) -> None:
            self.run("stepi")

        @kb.add("f7")
        def _rstepi(event: KeyPressEvent) -> None:
            self.run("rstepi")

        @kb.add("c-c", filter=running)
        def _interrupt(event: KeyPressEvent) -> None:
            self.session.say("interrupt")
            self.session.interrupt()

        @kb.add("c-c", filter=~running)
        def _clear(event: KeyPressEvent) -> None:
            self.buffer.reset()

        @kb.add("c-d")
        def _quit(event: KeyPressEvent) -> None:
            if not self.buffer.text:
                self.leave()

        @kb.add("tab")
        def _complete(event: KeyPressEvent) -> None:
            b = self.buffer
            if b.complete_state:
                b.complete_next()
            else:
                b.start_completion(select_first=False, insert_common_part=True)

        return kb

    def _accept(self, buffer: Buffer) -> bool:
        line = buffer.text
        try:
            cmd = C.parse(line)
        except C.CommandError:
            cmd = None                      # the session reports the usage error
        if cmd is not None and cmd.name == "quit":
            self.leave()
        elif line.strip():
            self.session.run_line(line)
        return False

    def run(self, line: str) -> None:
        """Run a command line as if typed."""
        self.session.run_line(line)

    # -- pane contents ----------------------------------------------------------------------

    def _pin(self) -> None:
        """Take one view of the session for a whole redraw, so no pane shows an older stop."""
        self.v = self.session.view()

    def _host_world(self) -> Optional[World]:
        snap = self.v.snapshot
        if snap.has_worlds:
            return snap.world(HOST_TID)
        return snap.world(self.v.focus) or snap.world(snap.live_tid)

    def _host(self) -> panes.Fragments:
        w = self._host_world()
        return panes.registers_pane(w, self.v.previous.get(w.tid) if w else None, self.session.symbols,
                                    empty="not connected")

    def _host_title(self) -> str:
        role = "host" if self.v.snapshot.has_worlds else "CPU"
        return panes.context_title(self._host_world(), role)

    def _guest_world(self) -> Optional[World]:
        return self.v.snapshot.guest(self.v.focus)

    def _guest(self) -> panes.Fragments:
        w = self._guest_world()
        return panes.registers_pane(w, self.v.previous.get(w.tid) if w else None, self.session.symbols,
                                    empty="no guest has run yet")

    def _guest_title(self) -> str:
        return panes.context_title(self._guest_world(), "guest")

    def _hyp(self) -> panes.Fragments:
        snap = self.v.snapshot
        hw = snap.world(HYP_TID) if snap.has_worlds else None
        return panes.hyp_pane(snap.hyp, self.v.previous_hyp, hw, snap.last_exit, self.session.symbols,
                              self.v.previous.get(hw.tid) if hw else None)

    def _code(self) -> panes.Fragments:
        snap = self.v.snapshot
        return panes.disassembly_pane(snap.code, snap.code_base, snap.pc, snap.thumb, snap.breakpoints,
                                      self.session.symbols)

    def _code_title(self) -> str:
        snap = self.v.snapshot
        w = snap.world(self.v.focus) or snap.world(snap.live_tid)
        return f" code: {w.name} " if w else " code "

    def _exits(self) -> panes.Fragments:
        return panes.exits_pane(self.v.snapshot.exits)

    def _uart(self) -> panes.Fragments:
        if self.uart is None:
            return [("class:dim", "UART not captured (the TUI did not start the stub)\n")]
        return panes.uart_pane(self.uart())

    def _messages(self) -> panes.Fragments:
        return panes.lines_pane(self.session.message_lines())

    # -- screen text (tests, README captures) ------------------------------------------------

    def render_text(self, width: int, height: int) -> str:
        """The screen as plain text at ``width`` x ``height``, drawn now (call on the UI thread)."""
        if not self.app.is_running:
            async def draw() -> str:        # the command line's history loads as a loop task
                return self._draw(width, height)
            return asyncio.run(draw())
        return self._draw(width, height)

    def _draw(self, width: int, height: int) -> str:
        self.app.render_counter += 1        # controls cache their text per render
        screen = Screen()
        with set_app(self.app):
            self.body.write_to_screen(screen, MouseHandlers(), WritePosition(0, 0, width, height),
                                      parent_style="", erase_bg=False, z_index=None)
            screen.draw_all_floats()
        rows = []
        for y in range(height):
            line = screen.data_buffer[y]
            rows.append("".join(line[x].char for x in range(width)).rstrip())
        return "\n".join(rows)

    def capture(self, width: int, height: int, timeout: float = 5.0) -> str:
        """:meth:`render_text`, from any thread: runs on the application's loop when it is running."""
        loop: Optional[asyncio.AbstractEventLoop] = getattr(self.app, "loop", None)
        if not self.app.is_running or loop is None:
            return self.render_text(width, height)
        done: "concurrent.futures.Future[str]" = concurrent.futures.Future()

        def draw() -> None:
            try:
                done.set_result(self.render_text(width, height))
            except Exception as e:
                done.set_exception(e)
        loop.call_soon_threadsafe(draw)
        return done.result(timeout)

