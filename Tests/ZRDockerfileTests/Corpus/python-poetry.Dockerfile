ARG PYTHON=3.11
FROM python:${PYTHON} AS base
ENV POETRY_HOME="/opt/poetry" POETRY_VIRTUALENVS_IN_PROJECT=true
RUN pip install "poetry==1.8.2"

FROM base AS deps
WORKDIR /app
COPY pyproject.toml poetry.lock ./
RUN poetry install --no-root --only main

FROM python:${PYTHON}-slim
COPY --from=deps /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH"
COPY src /app/src
ENTRYPOINT ["python", "-m", "src"]
