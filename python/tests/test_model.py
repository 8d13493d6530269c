"""The model API with the real default model (SmolLM2-135M-Instruct on CPU)."""

from __future__ import annotations

import enum
import json
from typing import List, Literal, Optional

import pytest
from pydantic import BaseModel, Field

import sluicegate as sg


class Sentiment(enum.Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"


class City(BaseModel):
    name: str = Field(max_length=30)
    country: str = Field(max_length=30)


class Trip(BaseModel):
    city: City
    days: int = Field(ge=1, le=30)
    season: Literal["spring", "summer", "autumn", "winter"]
    mood: Sentiment
    budget_eur: Optional[int] = Field(default=None, ge=0, le=100000)
    activities: List[str] = Field(max_length=3)


def test_generate_pydantic_nested_literal_enum_optional_list(model: sg.Llama) -> None:
    trip = model.generate("Plan a short trip to Lisbon in spring. Answer in JSON.", Trip, max_tokens=200)
    assert isinstance(trip, Trip)
    assert isinstance(trip.city, City) and isinstance(trip.mood, Sentiment)
    assert 1 <= trip.days <= 30 and len(trip.activities) <= 3


def test_generate_dict_schema_regex_choice(model: sg.Llama) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 10}},
        "required": ["answer"],
    }
    value = model.generate("How many legs does a spider have? Reply in JSON.", schema, max_tokens=40)
    assert isinstance(value, dict) and 0 <= value["answer"] <= 10
    date = model.generate("When did the Berlin wall fall? Give the date.", regex=r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    assert len(date) == 10 and date[4] == "-" and date[7] == "-"
    label = model.classify("I loved this film, it was wonderful!", ["positive", "negative"])
    assert label in ("positive", "negative")
    answer = model.generate("Is the sky blue?", choice=["yes", "no"], system="Answer yes or no.")
    assert answer in ("yes", "no")


def test_streaming_pieces_join_to_the_output(model: sg.Llama) -> None:
    pieces: List[str] = []
    text = model.generate("Count from 1 to 5.", regex=r"1, 2, 3, 4, 5", on_text=pieces.append)
    assert text == "1, 2, 3, 4, 5" and "".join(pieces) == text
    streamed = list(model.stream("Name a colour.", choice=["red", "green", "blue"]))
    assert "".join(streamed) in ("red", "green", "blue")


def test_max_tokens_raises_incomplete_with_partial_text(model: sg.Llama) -> None:
    with pytest.raises(sg.GenerationIncomplete) as e:
        model.generate("Write a long list of words.", {"type": "array", "items": {"type": "string"}, "minItems": 50},
                       max_tokens=8)
    assert e.value.reason == "max_tokens"
    assert e.value.text.startswith("[")
    with pytest.raises(sg.GenerationIncomplete):
        list(model.stream("Write a long list.", {"type": "array", "items": {"type": "string"}, "minItems": 50},
                          max_tokens=5))


def test_extract_with_examples(model: sg.Llama) -> None:
    class Contact(BaseModel):
        name: str = Field(max_length=40)
        email: str = Field(pattern=r"^[a-z.]+@[a-z]+\.[a-z]{2,3}$")

    example = ("Write to Bob Smith at bob.smith@mail.com.", Contact(name="Bob Smith", email="bob.smith@mail.com"))
    contact = model.extract("Please contact Alice Jones: alice.jones@example.org", Contact, examples=[example])
    assert isinstance(contact, Contact) and "@" in contact.email
    many = model.extract_many(["Reach Carl at carl@host.net", "Mail dana@firm.com (Dana)"], Contact,
                              examples=[example], n_parallel=2)
    assert len(many) == 2 and all(isinstance(c, Contact) for c in many)


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Current weather in a city."""
    return f"sunny in {city} ({unit})"


def convert_currency(amount: float, source: str, target: str) -> float:
    """Convert an amount of money between currencies (ISO codes)."""
    return amount * 1.1


class SearchWeb(BaseModel):
    """Search the web for a query."""

    query: str = Field(max_length=60)


def test_call_tools_functions_and_models(model: sg.Llama) -> None:
    calls = model.call_tools("What's the weather in Paris?", [get_weather, convert_currency, SearchWeb])
    assert len(calls) == 1
    call = calls[0]
    assert call.name in ("get_weather", "convert_currency", "SearchWeb")
    if call.name == "get_weather":
        assert set(call.arguments) <= {"city", "unit"} and isinstance(call.arguments["city"], str)
        assert call.invoke().startswith("sunny in")
    elif call.name == "SearchWeb":
        assert isinstance(call.arguments, SearchWeb)
    several = model.call_tools(
        [{"role": "user", "content": "Weather in Oslo and in Rome, please."}], [get_weather, SearchWeb], max_calls=3
    )
    assert 1 <= len(several) <= 3
    with pytest.raises(ValueError):
        model.call_tools("hi", [get_weather, get_weather])


def test_engine_api_on_the_model_vocabulary(model: sg.Llama) -> None:
    tok = model.tokenizer
    compiled = model.compile(sg.Grammar.json_schema(City))
    m = compiled.matcher()
    m.consume_bytes(json.dumps({"name": "Oslo", "country": "Norway"}).encode())
    assert m.is_accepting()
    assert compiled.vocab_size == tok.vocab_size


def test_bad_model_files_and_arguments(tmp_path, model: sg.Llama) -> None:
    with pytest.raises(sg.ModelError):
        sg.Llama(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 60)
    with pytest.raises(sg.ModelError):
        sg.Llama(bad)
    with pytest.raises(ValueError):
        model.generate("x", {"type": "object"}, regex="a")
    with pytest.raises(ValueError):
        model.generate("x", regex="a", max_tokens=0)
    with pytest.raises(sg.SchemaError):
        model.generate("x", {"type": "object", "minProperties": "two"})
