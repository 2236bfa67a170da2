"""Views declare each option once; defaults, validation and what the probe receives follow."""

from __future__ import annotations

import pytest

from gpuviz_app.core.view_names import VIEW_NAMES
from gpuviz_app.render.views import VIEW_CLASSES, make_view
from gpuviz_app.render.views.base import CHECK, CHOICE, Option, View


def test_the_registry_names_are_the_torch_free_view_names_in_order():
    assert tuple(VIEW_CLASSES) == VIEW_NAMES
    for name, cls in VIEW_CLASSES.items():
        assert cls.name == name and isinstance(make_view(name), cls)


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_each_option_is_declared_once_with_a_valid_default(name):
    cls = VIEW_CLASSES[name]
    names = [option.name for option in cls.OPTIONS]
    assert len(names) == len(set(names)), names
    assert not {a.name for a in cls.ACTIONS} & set(names)  # an action is never also a setting
    for option in cls.OPTIONS:
        assert option.accepts(option.default), option.name
    assert cls.default_options() == {option.name: option.default for option in cls.OPTIONS}
    assert make_view(name).options() == cls.default_options()


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_probe_options_are_exactly_the_options_marked_for_the_probe(name):
    view = make_view(name)
    marked = [option for option in view.OPTIONS if option.probe]
    sent = view.probe_options()
    if not marked:
        assert sent is None
        return
    assert view.probe is not None, "a view without a probe has nothing to send"
    assert set(sent) == {option.probe_key or option.name for option in marked}
    # change every marked option to another valid value: each change reaches the probe
    for option in marked:
        other = next((c for c in option.choices if c != option.default), None)
        if isinstance(option.default, bool):
            other = not option.default
        if other is None:
            continue
        view.set_option(option.name, other)
        key, value = option.for_probe(other)
        assert view.probe_options()[key] == value, option.name


def test_embedding_sends_the_forms_its_probe_wants():
    view = make_view("embedding")
    assert view.probe_options() == {"layer": "penultimate", "samples": 10_000, "dims": 2, "method": "pca",
                                    "every": 10}
    view.set_options({"dims": "3-D", "layer": "head.1", "point_size": 8})
    assert view.probe_options() == {"layer": "head.1", "samples": 10_000, "dims": 3, "method": "pca",
                                    "every": 10}


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_invalid_saved_options_fall_back_to_the_defaults(name):
    view = make_view(name)
    stale = {}
    for option in view.OPTIONS:
        if option.choices:
            stale[option.name] = "no such choice" if isinstance(option.default, str) else -7  # right type
        elif isinstance(option.default, bool):
            stale[option.name] = 1  # an int is not a bool
        else:
            stale[option.name] = 3.5  # wrong type for str options
    stale["no_such_option"] = True
    view.set_options(stale)
    assert view.options() == view.default_options()


def test_validation_follows_the_declaration():
    size = Option("size", 4, choices=(2, 4, 8))
    assert size.accepts(8) and not size.accepts(3) and not size.accepts(True) and not size.accepts("4")
    span = Option("span", 1.0, choices=(0.5, 1.0, 2.0))
    assert span.accepts(2) and span.accepts(0.5) and not span.accepts(0.7)
    flag = Option("flag", False)
    assert flag.accepts(True) and not flag.accepts(0)
    text = Option("filter", "")
    assert text.accepts("3, 8") and not text.accepts(3)


def test_a_float_option_restored_as_an_int_is_stored_as_a_float():
    view = make_view("landscape")
    view.set_options({"span": 2})
    assert view.options()["span"] == 2.0 and isinstance(view.options()["span"], float)


def test_the_control_kind_follows_from_the_declaration():
    assert Option("on", True).control == CHECK
    assert Option("mode", "a", choices=("a", "b")).control == CHOICE
    assert Option("layer", "penultimate").control is None  # the host provides its own control
    assert Option("log_loss", False).text == "Log loss"
    assert Option("log_loss", False, label="Log scale").text == "Log scale"
    method = Option("method", "pca", choices=("pca", "tsne"), choice_labels={"tsne": "t-SNE"})
    assert [method.choice_text(c) for c in method.choices] == ["pca", "t-SNE"]


def test_a_new_view_needs_only_its_declarations():
    class Tiny(View):
        name = "tiny"
        probe = "tiny"
        OPTIONS = (Option("bins", 30, choices=(10, 30, 100), probe=True, probe_key="n_bins", to_probe=str),
                   Option("dark", True))

    view = Tiny()
    assert view.options() == {"bins": 30, "dark": True}
    assert view.probe_options() == {"n_bins": "30"}
    view.set_options({"bins": 100, "dark": False})
    assert view.probe_options() == {"n_bins": "100"} and view.options()["dark"] is False
    with pytest.raises(KeyError):
        Tiny.option("nope")
    assert Tiny.option("bins").default == 30


def test_a_view_is_found_by_its_name_alone(monkeypatch):
    """Adding a view is a module named like it (with `VIEW`) plus its name in VIEW_NAMES."""
    import sys
    import types

    from gpuviz_app.render import views

    class Extra(View):
        name = "extra"

    module = types.ModuleType("gpuviz_app.render.views.extra")
    module.VIEW = Extra
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert views._view_class("extra") is Extra
    Extra.name = "misnamed"
    with pytest.raises(TypeError, match="render/views/extra"):
        views._view_class("extra")
