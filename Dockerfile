# The collector's image: pricecap installed into a virtualenv in a build stage, then copied into a slim
# runtime that runs `pricecap collect` as an unprivileged user. docker-compose.yml builds it.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/pricecap
COPY pyproject.toml README.md ./
COPY pricecap pricecap
COPY collector collector
COPY queries queries
COPY fake_binance fake_binance
COPY stack stack
RUN /opt/pricecap/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/pricecap --create-home pricecap \
    && mkdir -p /var/lib/pricecap/spool \
    && chown -R pricecap:pricecap /var/lib/pricecap
COPY --from=build /opt/pricecap /opt/pricecap
ENV PATH=/opt/pricecap/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PRICECAP_SPOOL_DIR=/var/lib/pricecap/spool
USER pricecap
WORKDIR /var/lib/pricecap
EXPOSE 9108
# /healthz answers 200 while every connection is up and nothing was lost, else 503 (urlopen raises).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
ENTRYPOINT ["pricecap"]
CMD ["collect", "--symbol", "BTCUSDT", "--symbol", "ETHUSDT", "--metrics-host", "0.0.0.0"]
