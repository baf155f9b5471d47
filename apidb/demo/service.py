"""The demo API (see `apidb.demo`). Answers are fixed tables, so tests can assert them."""

from __future__ import annotations

import argparse
import json
import threading
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from apidb.demo import DEFAULT_PORT, OPENAPI_SPEC

CITIES: dict[str, tuple[float, str]] = {
    "paris": (14.0, "cloudy"),
    "london": (11.5, "rain"),
    "tokyo": (18.2, "clear"),
    "new york": (12.8, "windy"),
    "sydney": (22.4, "sunny"),
}
# Units of each currency per US dollar (a fixed table, not market data).
PER_USD: dict[str, float] = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.0, "CHF": 0.88}


class Weather(BaseModel):
    city: str
    temperature_c: float
    conditions: str


class Conversion(BaseModel):
    amount: float
    from_currency: str
    to_currency: str
    result: float


class TodoIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    done: bool = False


class Todo(TodoIn):
    id: int


def create_app() -> FastAPI:
    app = FastAPI(title="toolroute demo", version="1.0.0")
    todos: dict[int, Todo] = {}
    lock = threading.Lock()

    @app.get("/weather/{city}", operation_id="get_weather", response_model=Weather)
    def get_weather(city: str) -> Weather:
        """Current weather for a city (Paris, London, Tokyo, New York, Sydney)."""
        found = CITIES.get(city.strip().lower())
        if found is None:
            raise HTTPException(404, f"unknown city {city!r}")
        return Weather(city=city, temperature_c=found[0], conditions=found[1])

    @app.get("/convert", operation_id="convert_currency", response_model=Conversion)
    def convert_currency(
        amount: Annotated[float, Query(ge=0)],
        from_currency: Annotated[str, Query(min_length=3, max_length=3)],
        to_currency: Annotated[str, Query(min_length=3, max_length=3)],
    ) -> Conversion:
        """Convert an amount of money between USD, EUR, GBP, JPY and CHF."""
        source, target = from_currency.upper(), to_currency.upper()
        if source not in PER_USD or target not in PER_USD:
            raise HTTPException(422, "supported currencies: " + ", ".join(PER_USD))
        result = round(amount / PER_USD[source] * PER_USD[target], 2)
        return Conversion(amount=amount, from_currency=source, to_currency=target, result=result)

    @app.post("/todos", operation_id="create_todo", response_model=Todo, status_code=201)
    def create_todo(todo: TodoIn) -> Todo:
        """Add an item to the todo list."""
        with lock:
            stored = Todo(id=len(todos) + 1, **todo.model_dump())
            todos[stored.id] = stored
        return stored

    @app.get("/todos", operation_id="list_todos", response_model=list[Todo])
    def list_todos() -> list[Todo]:
        """Every item on the todo list."""
        return list(todos.values())

    @app.get("/todos/{todo_id}", operation_id="get_todo", response_model=Todo)
    def get_todo(todo_id: int) -> Todo:
        """One item of the todo list by its id."""
        if todo_id not in todos:
            raise HTTPException(404, f"no todo {todo_id}")
        return todos[todo_id]

    return app


app = create_app()


def spec(server: str = f"http://127.0.0.1:{DEFAULT_PORT}") -> dict[str, object]:
    """The app's OpenAPI spec with `server` as its only server."""
    document = create_app().openapi()
    return {**document, "servers": [{"url": server}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--write-spec", action="store_true", help=f"rewrite {OPENAPI_SPEC.name}")
    args = parser.parse_args()
    if args.write_spec:
        OPENAPI_SPEC.write_text(json.dumps(spec(), indent=2) + "\n")
        return
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
