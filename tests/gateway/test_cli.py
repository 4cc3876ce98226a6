"""``respan-otel gateway``: refuses to run open or keyless, with the fix in one line."""

from __future__ import annotations

from respan_otel.cli import main


def test_without_client_tokens_it_refuses(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RESPAN_API_KEY", "sk-respan-secret")
    monkeypatch.delenv("RESPAN_GATEWAY_TOKENS", raising=False)
    assert main(["gateway", "--dir", str(tmp_path), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert "RESPAN_GATEWAY_TOKENS" in error
    assert "sk-respan-secret" not in error


def test_without_the_respan_key_it_refuses(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    tokens = tmp_path / "tokens"
    tokens.write_text("# fleet A\nalpha\n\nbeta\n")
    assert main(["gateway", "--dir", str(tmp_path), "--tokens-file", str(tokens)]) == 2
    assert "RESPAN_API_KEY" in capsys.readouterr().err


def test_the_respan_key_as_a_client_token_is_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RESPAN_API_KEY", "sk-respan-secret")
    monkeypatch.setenv("RESPAN_GATEWAY_TOKENS", "alpha,sk-respan-secret")
    assert main(["gateway", "--dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "must not be the Respan API key" in error
    assert "sk-respan-secret" not in error
