"""A kit block's exported Verilog is kept by what it is made from (``hw/blocks.verilog_text``): the same
design reads back its text, anything that could change the text exports anew."""

from attnkit.hw import blocks, mutate


def _kept(root):
    return sorted((root / "build" / "verilog").glob("*.v"))


def test_a_design_exports_once_then_reads_back_the_same_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = blocks.get("exp")
    params = block.load_params([])
    first = blocks.verilog_text(block, params)
    [kept] = _kept(tmp_path)
    assert kept.name.startswith("exp-") and kept.read_text() == first

    def elaborate(*args, **kwargs):
        raise AssertionError("elaborated again")

    monkeypatch.setattr(blocks.verilog, "convert", elaborate)
    assert blocks.verilog_text(block, params) == first


def test_other_parameters_a_wrapped_design_or_changed_sources_export_anew(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = blocks.get("exp")
    params = block.load_params([])
    plain = blocks.verilog_text(block, params)
    other = blocks.verilog_text(block, block.load_params(["table_bits=5"]))
    assert other != plain and len(_kept(tmp_path)) == 2
    stuck = blocks.verilog_text(block, params, wrap=lambda c: mutate.Stuck(c, "o.valid", 0))
    assert stuck != plain and len(_kept(tmp_path)) == 2  # a fault is never kept
    monkeypatch.setattr(blocks, "_source_key", lambda: "the kit's source, edited")
    assert blocks.verilog_text(block, params) == plain and len(_kept(tmp_path)) == 3
