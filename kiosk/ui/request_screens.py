"""The request screens (work orders, docs/work-orders.md): three taps at most from the idle screen.

1. "Report a problem / request a service" on the idle screen;
2. a category (``RequestCategoriesScreen``, the site's list);
3. the card for a reply, or "Send anonymously" (``RequestCardScreen``) — then the usual feedback screen.

"My requests" then a card shows that card's requests and their states (``MyRequestsScreen``), from the
gateway's last cfg, so it works offline too. Every screen has Cancel and goes back to idle by itself after
``REQUEST_WAIT_S`` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen

from kiosk.config import RequestStatus
from kiosk.ui.kiosk_screens import top_bar
from kiosk.ui.widgets import BACKGROUND, MUTED, NEUTRAL, PANEL, Filled, button, label, spacer

if TYPE_CHECKING:
    from kiosk.ui.application import KioskApp


def _cancel_row(app: KioskApp, key: str = "cancel") -> BoxLayout:
    s = app.style
    row = BoxLayout(size_hint_y=None, height=s.px(64))
    row.add_widget(spacer())
    row.add_widget(button(s, app.tr(key), app.close_requests, colour=NEUTRAL, size_hint_x=None,
                          width=s.px(200)))
    return row


class RequestCategoriesScreen(Screen):
    """Tap 2: what the request is about, one big button per category."""

    def render(self, app: KioskApp) -> None:
        s, config = app.style, app.runtime.config
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(20), spacing=s.px(12))
        root.add_widget(top_bar(app, app.tr("request_choose")))
        categories = config.request_categories
        grid = GridLayout(cols=2 if len(categories) <= 8 else 3, spacing=s.px(10))
        for category in categories:
            grid.add_widget(button(s, config.category_label(category.id, app.lang),
                                   lambda chosen=category.id: app.choose_request(chosen), height=None, size=22))
        root.add_widget(grid)
        root.add_widget(_cancel_row(app))
        self.add_widget(root)


class RequestCardScreen(Screen):
    """Tap 3: the card for a reply, or anonymous."""

    def render(self, app: KioskApp) -> None:
        s, runtime = app.style, app.runtime
        self.clear_widgets()
        draft = runtime.request
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(20), spacing=s.px(12))
        title = runtime.config.category_label(draft.category, app.lang) if draft else app.tr("report_problem")
        root.add_widget(top_bar(app, title))
        root.add_widget(spacer())
        root.add_widget(label(s, app.tr("request_card"), 48, bold=True, size_hint_y=None))
        root.add_widget(label(s, app.tr("request_card_hint"), 22, colour=MUTED, size_hint_y=None))
        root.add_widget(spacer())
        row = BoxLayout(size_hint_y=None, height=s.px(64), spacing=s.px(12))
        row.add_widget(button(s, app.tr("request_anonymous"), app.send_anonymous))
        row.add_widget(button(s, app.tr("cancel"), app.close_requests, colour=NEUTRAL, size_hint_x=None,
                              width=s.px(200)))
        root.add_widget(row)
        self.add_widget(root)


class LookupScreen(Screen):
    """"My requests": waiting for the card."""

    def render(self, app: KioskApp) -> None:
        s = app.style
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(20), spacing=s.px(12))
        root.add_widget(top_bar(app, app.tr("my_requests")))
        root.add_widget(spacer())
        root.add_widget(label(s, app.tr("my_requests_tap"), 48, bold=True, size_hint_y=None))
        root.add_widget(spacer())
        root.add_widget(_cancel_row(app))
        self.add_widget(root)


class MyRequestsScreen(Screen):
    """The tapped card's requests, newest first: category, state, date (nothing else, nobody else's)."""

    found: list[RequestStatus] = []

    def render(self, app: KioskApp) -> None:
        s, config = app.style, app.runtime.config
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(20), spacing=s.px(10))
        root.add_widget(top_bar(app, app.tr("my_requests")))
        if not self.found:
            root.add_widget(spacer())
            root.add_widget(label(s, app.tr("my_requests_none"), 36, bold=True, size_hint_y=None))
        for status in self.found[:5]:
            row = Filled(PANEL, size_hint_y=None, height=s.px(56), padding=[s.px(12), 0], spacing=s.px(10))
            opened = status.opened.astimezone().strftime("%d.%m. %H:%M")
            row.add_widget(label(s, f"{opened}  {config.category_label(status.category, app.lang)}", 22,
                                 halign="left"))
            row.add_widget(label(s, app.tr(f"state_{status.state}"), 22, bold=True, halign="right"))
            root.add_widget(row)
        root.add_widget(spacer())
        root.add_widget(_cancel_row(app, "ok"))
        self.add_widget(root)
