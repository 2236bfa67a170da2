"""Tile labels of the weights view fit their tile: a long one never runs into its neighbour."""

from gpuviz_app.render.plot import LEGEND_CHAR
from gpuviz_app.render.views.weights import WeightsView
from tests.render.test_weights_view import trained_weights  # noqa: F401 - the module's fixture


def test_each_tile_label_fits_its_tile_and_names_its_layer(view_canvas, trained_weights):  # noqa: F811
    view = WeightsView()
    canvas = view_canvas([view], size=(576, 600))  # a dock beside the loss curves
    canvas.push(trained_weights)
    canvas.render()
    tiles = view.tiles.tiles
    assert len(tiles) == 4
    conv = tiles[1]  # 2 conv 32x16x3x3 as channel means: the longest label
    assert len(conv.label_choices[0]) * LEGEND_CHAR > conv.widget.size[0]  # too long for the tile as it is
    for tile in tiles:
        text = tile.label.text
        assert len(text) * LEGEND_CHAR <= tile.widget.size[0] - 6, text
        assert text.startswith(tile.layer["label"]), text
    assert conv.label.text in conv.label_choices[1:]  # a shorter wording, not a cut one
