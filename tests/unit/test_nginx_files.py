"""The Nginx router's pure file handling: the map file, the upstream include files, stub_status and
``nginx -T``'s dump (backends/nginx/io.py), and its options' messages."""

from __future__ import annotations

import pytest

from backends.base import BackendContext, ConfigError
from backends.nginx.io import (
    map_value,
    nginx_message,
    parse_dump,
    parse_servers,
    parse_stub_status,
    with_down,
    with_map_value,
)
from backends.nginx.options import load_options

MAP = "# kept by bluegreen-console\nshop.example green;\ndefault blue;  # live\n"


def test_the_map_key_is_read_and_rewritten_keeping_every_other_line():
    assert map_value(MAP, "default") == "blue"
    assert map_value(MAP, "shop.example") == "green"
    assert map_value(MAP, "nothing") is None
    out = with_map_value(MAP, "default", "green")
    assert out == "# kept by bluegreen-console\nshop.example green;\ndefault green;\n"
    assert with_map_value("", "default", "blue") == "default blue;\n"
    assert with_map_value("default a;\ndefault b;\n", "default", "c") == "default c;\n"


def test_down_is_added_and_removed_on_every_server_line_keeping_params_and_names():
    text = "server 10.0.0.1:80 weight=3;  # green-1\nserver 10.0.0.2:80 max_fails=2;\n"
    drained = with_down(text, True)
    servers = parse_servers(drained)
    assert [(s.name, s.address, s.down, s.weight) for s in servers] == [
        ("green-1", "10.0.0.1:80", True, 3),
        ("10.0.0.2:80", "10.0.0.2:80", True, None),
    ]
    assert "max_fails=2 down;" in drained and "# green-1" in drained
    assert with_down(drained, False) == text
    assert with_down(drained, True) == drained  # once is enough


def test_stub_status_and_the_config_dump_are_parsed():
    page = (
        "Active connections: 3 \nserver accepts handled requests\n 10 10 42 \n"
        "Reading: 0 Writing: 1 Waiting: 2 \n"
    )
    assert parse_stub_status(page) == {
        "active": 3,
        "accepts": 10,
        "handled": 10,
        "requests": 42,
        "reading": 0,
        "writing": 1,
        "waiting": 2,
    }
    assert parse_stub_status("<html>hello</html>") is None
    dump = parse_dump(
        "# configuration file /etc/nginx/nginx.conf:\nhttp {\n  upstream blue {\n"
        "# configuration file /etc/nginx/backend.map:\ndefault blue;\n  upstream green{\n"
    )
    assert dump.files == {"/etc/nginx/nginx.conf", "/etc/nginx/backend.map"}
    assert dump.upstreams == {"blue", "green"}


def test_nginx_s_own_words_are_kept_without_the_banner():
    err = (
        "nginx: [emerg] duplicate default map parameter in /x/backend.map:1\n"
        "nginx: configuration file /x/nginx.conf test failed\n"
    )
    assert nginx_message(err) == "duplicate default map parameter in /x/backend.map:1"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "option `conf`: found nothing"),
        ({"conf": "nginx.conf"}, "option `conf`: found 'nginx.conf'; expected an absolute path"),
        (
            {"upstreams": {"blue": "a", "green": "a"}},
            "found blue and green both 'a'; expected two different upstreams",
        ),
        ({"reload": "restart"}, "option `reload`: found 'restart'"),
        ({"probe_url": "https://x/"}, "expected an http:// URL"),
    ],
)
def test_bad_options_name_the_key_what_was_found_and_what_was_expected(options, words):
    base = {
        "conf": "/etc/nginx/nginx.conf",
        "map": "/etc/nginx/backend.map",
        "upstreams": {"blue": "blue", "green": "green"},
        "upstream_files": {"blue": "/etc/nginx/b.conf", "green": "/etc/nginx/g.conf"},
    }
    raw = {**base, **options} if options else {}
    with pytest.raises(ConfigError) as err:
        load_options(raw, BackendContext("shop"))
    assert str(err.value).startswith("service 'shop', router kind \"nginx\": ")
    assert words in str(err.value)
