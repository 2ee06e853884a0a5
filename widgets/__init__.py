"""Reusable Textual widgets of the console. They draw plain view data and never poll or do I/O."""

from widgets.action_log import ActionLog
from widgets.alarm_banner import AlarmBanner, BannerItem
from widgets.bake_timer import BakeTimer, BakeView
from widgets.colour_panel import ColourPanel, MetricView, PanelView
from widgets.key_footer import KeyFooter
from widgets.metric_chart import ChartView, MetricChart
from widgets.sparkline import SparkChart, render_sparkline
from widgets.status_header import HeaderView, StatusHeader

__all__ = [
    "ActionLog",
    "AlarmBanner",
    "BakeTimer",
    "BakeView",
    "BannerItem",
    "ChartView",
    "ColourPanel",
    "HeaderView",
    "KeyFooter",
    "MetricChart",
    "MetricView",
    "PanelView",
    "SparkChart",
    "StatusHeader",
    "render_sparkline",
]
