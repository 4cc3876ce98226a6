"""Child process for the integration tests: one framework + instrumentation, two runs.

``python app.py CONFIG_JSON``; CONFIG_JSON has ``setup`` (a key of ``SETUPS``),
``openai`` and ``anthropic`` (stub roots on 127.0.0.1). In a fresh interpreter (the
instrumentors patch globally and read their environment once) it instruments the
framework, then runs the same question twice: once bare (the framework's span is the
root) and once inside ``@trace(kind="workflow", dataset="support-qa")``. Every finished
span goes through ``RowBuilder`` one export batch per span (children before parents, as
a batching processor delivers them), with content on and with content off, and the rows
are printed as one ``RESULT {json}`` line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any, Final

RESULT_MARK: Final = "RESULT "
SYSTEM: Final = "Answer from the context. Context: Paris is the capital of France."
QUESTION: Final = "What is the capital of France?"
DATASET: Final = "support-qa"
DOCUMENTS: Final = (
    ("doc-1", "Paris is the capital of France."),
    ("doc-2", "France is in Europe."),
)


def with_engine(ask: Callable[[str], Any], engine: Any) -> Callable[[str], Any]:
    """``ask``, remembering the framework object it runs (a chain, a client, an index)."""

    def run(question: str) -> Any:
        return ask(question)

    run.engine = engine  # type: ignore[attr-defined]
    return run


def langchain_app(config: dict[str, Any]) -> Callable[[str], Any]:
    """A small RAG chain: retriever -> prompt with the context -> ChatOpenAI -> parser."""
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnablePassthrough
    from langchain_openai import ChatOpenAI

    class Docs(BaseRetriever):
        def _get_relevant_documents(
            self, query: str, *, run_manager: CallbackManagerForRetrieverRun
        ) -> list[Document]:
            return [Document(page_content=text, id=key) for key, text in DOCUMENTS]

    def join(documents: list[Document]) -> str:
        return "\n".join(d.page_content for d in documents)

    llm = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=config["openai"] + "/v1",
        api_key="test",
        temperature=0.2,
        max_retries=0,
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from the context. Context: {context}"), ("user", "{question}")]
    )
    chain = {"context": Docs() | join, "question": RunnablePassthrough()} | prompt | llm
    chain = chain | StrOutputParser()
    return with_engine(chain.invoke, chain)


def openai_app(config: dict[str, Any]) -> Callable[[str], Any]:
    import openai

    client = openai.OpenAI(base_url=config["openai"] + "/v1", api_key="test", max_retries=0)

    def ask(question: str) -> str:
        client.embeddings.create(model="text-embedding-3-small", input=[question, "Paris"])
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            temperature=0.2,
        )
        return reply.choices[0].message.content

    return with_engine(ask, client)


def anthropic_app(config: dict[str, Any]) -> Callable[[str], Any]:
    import anthropic

    client = anthropic.Anthropic(
        base_url=config["anthropic"], api_key="test-anthropic", max_retries=0
    )

    def ask(question: str) -> str:
        reply = client.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=64,
            system=SYSTEM,
            messages=[{"role": "user", "content": question}],
        )
        return reply.content[0].text  # type: ignore[union-attr]

    return with_engine(ask, client)


def agents_app(config: dict[str, Any]) -> Callable[[str], Any]:
    import openai
    from agents import Agent, OpenAIChatCompletionsModel, Runner

    client = openai.AsyncOpenAI(base_url=config["openai"] + "/v1", api_key="test", max_retries=0)
    model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)
    agent = Agent(name="Geographer", instructions=SYSTEM, model=model)

    def ask(question: str) -> Any:
        return Runner.run_sync(agent, question).final_output

    return with_engine(ask, agent)


def llamaindex_app(config: dict[str, Any]) -> Callable[[str], Any]:
    """A vector index over two documents, queried through a query engine."""
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.embeddings.openai import OpenAIEmbedding
    from llama_index.llms.openai import OpenAI

    base = config["openai"] + "/v1"
    Settings.llm = OpenAI(model="gpt-4o-mini", api_base=base, api_key="test", max_retries=0)
    Settings.embed_model = OpenAIEmbedding(
        model="text-embedding-3-small", api_base=base, api_key="test", max_retries=0
    )
    documents = [Document(text=text, id_=key) for key, text in DOCUMENTS]
    engine = VectorStoreIndex.from_documents(documents).as_query_engine(similarity_top_k=2)

    def ask(question: str) -> str:
        return str(engine.query(question))

    return with_engine(ask, engine)


def instrument(setup: str, provider: Any) -> None:
    if setup == "langchain-openinference":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument(tracer_provider=provider)
    elif setup == "langchain-traceloop":
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument(tracer_provider=provider)
    elif setup == "openai-openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif setup == "openai-v2":
        from opentelemetry.instrumentation import openai_v2

        openai_v2.OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif setup == "anthropic-traceloop":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif setup == "anthropic-openinference":
        from openinference.instrumentation import anthropic

        anthropic.AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif setup == "llamaindex-openinference":
        from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

        LlamaIndexInstrumentor().instrument(tracer_provider=provider)
    elif setup == "agents-openinference":
        from agents import set_trace_processors
        from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

        set_trace_processors([])  # the SDK's own exporter would call OpenAI's servers
        OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    else:
        raise SystemExit(f"unknown setup {setup}")


APPS: Final = {
    "langchain-openinference": langchain_app,
    "langchain-traceloop": langchain_app,
    "openai-openinference": openai_app,
    "openai-v2": openai_app,
    "anthropic-traceloop": anthropic_app,
    "anthropic-openinference": anthropic_app,
    "agents-openinference": agents_app,
    "llamaindex-openinference": llamaindex_app,
}


def main() -> None:
    config = json.loads(sys.argv[1])
    setup = config["setup"]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import respan_otel
    from respan_otel._export._rows import RowBuilder

    provider = TracerProvider()
    provider.add_span_processor(respan_otel.PropagationSpanProcessor())
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    otel_trace.set_tracer_provider(provider)  # the anthropic SDK traces to the global one
    instrument(setup, provider)
    ask = APPS[setup](config)

    @respan_otel.trace(name="support", kind="workflow", dataset=DATASET)
    def support(question: str, engine: Any) -> Any:
        return ask(question)

    # the framework object is an argument of the traced call: recorded as a summary
    answers = [ask(QUESTION), support(QUESTION, ask.engine)]  # type: ignore[attr-defined]
    provider.force_flush()
    spans = memory.get_finished_spans()

    def rows(**options: Any) -> dict[str, Any]:
        builder = RowBuilder(**options)
        batches = [builder.build([span]) for span in spans]  # one export per span
        not_rows: dict[str, int] = {}
        for batch in batches:
            for reason, count in batch.not_rows.items():
                not_rows[reason] = not_rows.get(reason, 0) + count
        return {
            "rows": [
                {"dataset": row.dataset, "body": row.body}
                for batch in batches
                for row in batch.rows
            ],
            "not_rows": not_rows,
        }

    result = {
        "answers": [str(answer) for answer in answers],
        "spans": [
            {
                "name": span.name,
                "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
                "trace_id": f"{span.context.trace_id:032x}",
            }
            for span in spans
        ],
        "on": rows(),
        "off": rows(capture_content=False),
    }
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
