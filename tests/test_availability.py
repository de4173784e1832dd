"""Which catalog models a backend can fine-tune: cards merged with the models the backend lists live."""

from __future__ import annotations

from ftui.availability import Mark, availability, merge
from ftui.catalog import Method, Provider, load_catalog
from ftui.client_types import LiveModel
from ftui.config import BackendKind, provider_of


def card(model: str):
    found = load_catalog().get(model)
    assert found is not None
    return found


def test_a_card_of_another_provider_says_where_it_can_be_trained() -> None:
    result = availability(card("gpt-4o-mini-2024-07-18"), Provider.LOCAL, "Local engine", [], None)
    assert result.mark is Mark.UNAVAILABLE and not result.usable
    assert result.reason.endswith("switch to an OpenAI or Azure profile (F2).")


def test_before_and_after_the_backend_answers() -> None:
    gpt = card("gpt-4o-mini-2024-07-18")
    assert availability(gpt, Provider.OPENAI, "OpenAI", None, None).reason == "checking what OpenAI offers…"
    failed = availability(gpt, Provider.OPENAI, "OpenAI", None, None, "timed out")
    assert failed.mark is Mark.UNKNOWN and "F5 asks again" in failed.reason
    missing = availability(gpt, Provider.OPENAI, "OpenAI", [], None)
    assert missing.mark is Mark.UNAVAILABLE and "account, region or quota" in missing.reason
    listed = LiveModel(gpt.id, fine_tunable=True)
    assert availability(gpt, Provider.OPENAI, "OpenAI", [listed], listed).describe() == (
        "✓ fine-tunable here — listed by OpenAI."
    )


def test_live_models_without_a_card_on_the_local_engine_train_with_sft() -> None:
    live = [LiveModel("my-local-base", fine_tunable=True), LiveModel("ft:x", fine_tunable=True, is_fine_tuned=True)]
    entries = {e.model_id: e for e in merge(load_catalog(), provider=Provider.LOCAL, backend_label="Local", live=live)}
    extra = entries["my-local-base"]
    assert extra.card is None and extra.methods == (Method.SUPERVISED,) and extra.availability.usable
    assert extra.matches(task=None, method=Method.SUPERVISED, text="local base")
    assert not extra.matches(task=None, method=Method.DPO, text="")
    assert "ft:x" not in entries


def test_provider_of_every_backend_kind() -> None:
    assert {kind: provider_of(kind) for kind in BackendKind} == {
        BackendKind.LOCAL: Provider.LOCAL,
        BackendKind.OPENAI: Provider.OPENAI,
        BackendKind.AZURE: Provider.AZURE,
        BackendKind.COMPATIBLE: Provider.OPENAI,  # held to OpenAI's published rules
    }
