//! Simple and extended query handlers, COPY, cancel.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, SinkExt, Stream, StreamExt, stream};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_describe_response};
use pgwire::api::results::{
    CopyResponse, DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, DEFAULT_NAME, ErrorHandler, PgWireServerHandlers,
    RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Parse, ParseComplete,
    TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::startup::ParameterStatus;
use strata_pgtypes::encode::{TextOptions, TimeZoneSetting};
use strata_sql::{CopyFormat, CopyIn, Engine, Error, Output, Prepared, Session, SqlState, Stmt};

use crate::pgwire::encode::{BatchEncoder, field_infos, pg_type};
use crate::pgwire::error::{error_info, to_pgwire, user};
use crate::pgwire::startup::{AuthConfig, CancelFlag, CancelRegistry, ConnState, StrataStartup};

/// The handler factory shared by all connections.
#[derive(Debug)]
pub struct Handlers {
    inner: Arc<Inner>,
    startup: Arc<StrataStartup>,
}

#[derive(Debug)]
pub struct Inner {
    engine: Arc<Engine>,
    registry: Arc<CancelRegistry>,
    parser: Arc<StrataParser>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>, auth: AuthConfig) -> Self {
        let registry = Arc::new(CancelRegistry::default());
        Handlers {
            inner: Arc::new(Inner {
                engine: Arc::clone(&engine),
                registry: Arc::clone(&registry),
                parser: Arc::new(StrataParser),
            }),
            startup: Arc::new(StrataStartup {
                engine,
                registry,
                pid_gen: RandomPidSecretKeyGenerator::default(),
                auth,
            }),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.inner)
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.inner)
    }
    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.startup)
    }
    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::clone(&self.inner)
    }
    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::clone(&self.inner)
    }
    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.inner)
    }
}

impl ErrorHandler for Inner {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        // PostgreSQL's text for a Bind or Describe of a statement that does not exist.
        if let PgWireError::StatementNotFound(name) = error {
            *error = to_pgwire(&strata_sql::sql_prepare::no_such_statement(name));
        }
        tracing::debug!(error = %error, "sending error to client");
    }
}

#[async_trait]
impl CancelHandler for Inner {
    async fn on_cancel_request(&self, req: CancelRequest) {
        self.registry.cancel(req.pid, &req.secret_key.to_bytes());
    }
}

fn conn<C: ClientInfo>(client: &C) -> PgWireResult<Arc<ConnState>> {
    client
        .session_extensions()
        .get::<ConnState>()
        .ok_or_else(|| {
            user(
                SqlState::ProtocolViolation,
                "connection has no session (start-up not completed)",
            )
        })
}

fn canceled() -> Error {
    Error::user(
        SqlState::QueryCanceled,
        "canceling statement due to user request",
    )
}

fn timed_out() -> Error {
    Error::user(
        SqlState::QueryCanceled,
        "canceling statement due to statement timeout",
    )
}

/// Runs `fut` unless the connection's cancel flag fires or the statement timeout passes.
async fn guarded<T>(
    cancel: &CancelFlag,
    deadline: Option<tokio::time::Instant>,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => futures::future::pending().await,
        }
    };
    tokio::select! {
        r = fut => r,
        _ = cancel.wait() => Err(canceled()),
        _ = sleep => Err(timed_out()),
    }
}

fn deadline_of(session: &Session) -> Option<tokio::time::Instant> {
    let ms = session.settings.statement_timeout_ms;
    (ms > 0).then(|| tokio::time::Instant::now() + Duration::from_millis(ms))
}

fn text_options(session: &Session) -> TextOptions {
    TextOptions {
        timezone: session.settings.tz,
        extra_float_digits: session.settings.extra_float_digits,
    }
}

/// Turns a record batch stream into DataRows, honouring cancel and timeout while streaming.
fn row_stream(
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    codes: Vec<i16>,
    opts: TextOptions,
    cancel: Arc<CancelFlag>,
    deadline: Option<tokio::time::Instant>,
    failed: Arc<std::sync::atomic::AtomicBool>,
) -> QueryResponse {
    let fields = Arc::new(field_infos(&schema, &codes));
    let encoder = BatchEncoder::new(&schema, &codes, &opts);
    let batches = stream::unfold(
        (stream, cancel, false),
        move |(mut s, cancel, done)| async move {
            if done {
                return None;
            }
            let next = guarded(&cancel, deadline, async { Ok(s.next().await) }).await;
            match next {
                Ok(Some(Ok(b))) => Some((Ok(b), (s, cancel, false))),
                Ok(Some(Err(e))) => Some((Err(Error::from(e)), (s, cancel, true))),
                Ok(None) => None,
                Err(e) => Some((Err(e), (s, cancel, true))),
            }
        },
    );
    let rows = batches.flat_map(move |b| {
        let out: Vec<PgWireResult<_>> = match b {
            Ok(b) => match encoder.encode(&b) {
                Ok(rows) => rows.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(to_pgwire(&Error::user(
                    SqlState::Internal,
                    format!("cannot encode result: {e}"),
                )))],
            },
            Err(e) => {
                failed.store(true, std::sync::atomic::Ordering::SeqCst);
                vec![Err(to_pgwire(&e))]
            }
        };
        stream::iter(out)
    });
    QueryResponse::new(fields, rows)
}

/// The batches of `stream`, ending with a 57014 error once `cancel` fires (COPY TO).
fn cancelable(
    stream: SendableRecordBatchStream,
    cancel: Arc<CancelFlag>,
) -> impl Stream<Item = Result<RecordBatch, Error>> {
    stream::unfold((stream, cancel), |(mut s, cancel)| async move {
        if cancel.is_canceled() {
            return Some((Err(canceled()), (s, cancel)));
        }
        s.next()
            .await
            .map(|r| (r.map_err(Error::from), (s, cancel)))
    })
}

/// Builds the COPY TO STDOUT data stream (text or CSV).
fn copy_out_stream(
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    spec: &strata_sql::CopySpec,
    opts: TextOptions,
    cancel: Arc<CancelFlag>,
) -> PgWireResult<CopyResponse> {
    if spec.format == CopyFormat::Binary {
        return Ok(copy_out_binary(schema, stream, opts, cancel));
    }
    let csv = spec.format == CopyFormat::Csv;
    let delim = spec.delimiter.unwrap_or(if csv { ',' } else { '\t' }) as u8;
    let null = spec
        .null
        .clone()
        .unwrap_or_else(|| if csv { String::new() } else { "\\N".into() });
    let quote = spec.quote.unwrap_or('"') as u8;
    let header = spec.header;
    let ncols = schema.fields().len();
    let encoders: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| strata_pgtypes::encode::ColumnEncoder::new(f, false, &opts))
        .collect();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let batches = cancelable(stream, cancel);
    let mut first = true;
    // One CopyData message per row, as PostgreSQL sends (and as clients count rows).
    let data = batches.map(move |b| -> PgWireResult<Vec<CopyData>> {
        let b = b.map_err(|e| to_pgwire(&e))?;
        let mut msgs = Vec::with_capacity(b.num_rows() + 1);
        let mut out = Vec::with_capacity(256);
        if first && header {
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    out.push(delim);
                }
                csv_field(&mut out, n.as_bytes(), delim, quote, &null);
            }
            out.push(b'\n');
            // The header travels with the first row so that the client's row count is right.
            if b.num_rows() == 0 {
                msgs.push(CopyData::new(bytes::Bytes::copy_from_slice(&out)));
                out.clear();
            }
        }
        first = first && b.num_rows() == 0;
        let mut val = Vec::new();
        for r in 0..b.num_rows() {
            for c in 0..ncols {
                if c > 0 {
                    out.push(delim);
                }
                val.clear();
                let present = encoders[c]
                    .encode(b.column(c).as_ref(), r, &mut val)
                    .map_err(|e| user(SqlState::Internal, e.to_string()))?;
                if !present {
                    out.extend_from_slice(null.as_bytes());
                } else if csv {
                    csv_field(&mut out, &val, delim, quote, &null);
                } else {
                    text_field(&mut out, &val, delim);
                }
            }
            out.push(b'\n');
            msgs.push(CopyData::new(bytes::Bytes::copy_from_slice(&out)));
            out.clear();
        }
        Ok(msgs)
    });
    let data = data.flat_map(|r| match r {
        Ok(v) => stream::iter(v.into_iter().map(Ok).collect::<Vec<_>>()),
        Err(e) => stream::iter(vec![Err(e)]),
    });
    Ok(CopyResponse::new(0, ncols, data))
}

/// COPY TO STDOUT in PostgreSQL's binary format: the signature, flags and extension
/// length travel with the first row (as PostgreSQL sends them), then one CopyData per
/// tuple (field count, then length-prefixed values in each type's binary format); pgwire
/// appends the trailer.
fn copy_out_binary(
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    opts: TextOptions,
    cancel: Arc<CancelFlag>,
) -> CopyResponse {
    let ncols = schema.fields().len();
    let encoders: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| strata_pgtypes::encode::ColumnEncoder::new(f, true, &opts))
        .collect();
    let batches = cancelable(stream, cancel);
    let mut header = true;
    let header_bytes = || {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out
    };
    let data = batches.map(move |b| -> PgWireResult<Vec<CopyData>> {
        let b = b.map_err(|e| to_pgwire(&e))?;
        let mut msgs = Vec::with_capacity(b.num_rows() + 1);
        let mut out = if header {
            header_bytes()
        } else {
            Vec::with_capacity(256)
        };
        if header && b.num_rows() == 0 {
            msgs.push(CopyData::new(bytes::Bytes::copy_from_slice(&out)));
            out.clear();
        }
        header = header && b.num_rows() == 0;
        for r in 0..b.num_rows() {
            out.extend_from_slice(&(ncols as i16).to_be_bytes());
            for (c, enc) in encoders.iter().enumerate() {
                enc.encode_with_len(b.column(c).as_ref(), r, &mut out)
                    .map_err(|e| user(SqlState::Internal, e.to_string()))?;
            }
            msgs.push(CopyData::new(bytes::Bytes::copy_from_slice(&out)));
            out.clear();
        }
        Ok(msgs)
    });
    let mut data = Box::pin(data.flat_map(|r| match r {
        Ok(v) => stream::iter(v.into_iter().map(Ok).collect::<Vec<_>>()),
        Err(e) => stream::iter(vec![Err(e)]),
    }));
    // With no rows at all the header still has to be sent.
    let mut sent_any = false;
    let data = stream::poll_fn(move |cx| {
        use std::task::Poll;
        match data.poll_next_unpin(cx) {
            Poll::Ready(None) if !sent_any => {
                sent_any = true;
                Poll::Ready(Some(Ok(CopyData::new(bytes::Bytes::from(header_bytes())))))
            }
            Poll::Ready(Some(m)) => {
                sent_any = true;
                Poll::Ready(Some(m))
            }
            other => other,
        }
    });
    CopyResponse::new(1, ncols, data)
}

fn text_field(out: &mut Vec<u8>, v: &[u8], delim: u8) {
    for &b in v {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' if delim == b'\t' => out.extend_from_slice(b"\\t"),
            b if b == delim => {
                out.push(b'\\');
                out.push(b);
            }
            b => out.push(b),
        }
    }
}

fn csv_field(out: &mut Vec<u8>, v: &[u8], delim: u8, quote: u8, null: &str) {
    let needs = v.is_empty() && null.is_empty()
        || v.iter()
            .any(|&b| b == delim || b == quote || b == b'\n' || b == b'\r')
        || v == null.as_bytes();
    if !needs {
        out.extend_from_slice(v);
        return;
    }
    out.push(quote);
    for &b in v {
        if b == quote {
            out.push(quote);
        }
        out.push(b);
    }
    out.push(quote);
}

async fn send_notice<C>(client: &mut C, message: String)
where
    C: Sink<PgWireBackendMessage> + Unpin,
{
    let info = pgwire::error::ErrorInfo::new("NOTICE".to_string(), "00000".to_string(), message);
    let _ = client
        .send(PgWireBackendMessage::NoticeResponse(info.into()))
        .await;
}

/// State of a COPY FROM STDIN in progress on a connection.
#[derive(Debug)]
pub struct CopyState {
    target: CopyIn,
    parser: AnyCopyParser,
    pending: Vec<RecordBatch>,
    pending_bytes: usize,
    rows: u64,
    error: Option<Error>,
    tz: TimeZoneSetting,
}

/// The COPY FROM parser of the statement's format.
#[derive(Debug)]
enum AnyCopyParser {
    Text(strata_pgtypes::copy::CopyParser),
    Binary(strata_pgtypes::copy::binary::BinaryCopyParser),
}

impl AnyCopyParser {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>, strata_pgtypes::copy::CopyError> {
        match self {
            AnyCopyParser::Text(p) => p.feed(chunk),
            AnyCopyParser::Binary(p) => p.feed(chunk),
        }
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>, strata_pgtypes::copy::CopyError> {
        match self {
            AnyCopyParser::Text(p) => p.finish(),
            AnyCopyParser::Binary(p) => p.finish(),
        }
    }
}

/// COPY data is committed in one WAL record per this many bytes of parsed rows; a COPY
/// smaller than this is atomic.
const COPY_COMMIT_BYTES: usize = 64 * 1024 * 1024;

impl Inner {
    /// Executes one statement and maps its output to a pgwire response.
    async fn run<C>(
        &self,
        client: &mut C,
        state: &ConnState,
        session: &mut Session,
        stmt: &Stmt,
        prepared: Option<(&Prepared, Vec<ScalarValue>, Vec<i16>)>,
        materialize: bool,
    ) -> Result<Response, Error>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        state.cancel.reset();
        if let Some(name) = strata_sql::sql_prepare::prepare_target(stmt)
            && client.portal_store().get_statement(&name).is_some()
        {
            session.note_error();
            return Err(strata_sql::sql_prepare::duplicate_statement(&name));
        }
        if state
            .stream_failed
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            session.note_error();
        }
        let deadline = deadline_of(session);
        // NOTICEs raised while the statement runs (e.g. backfill progress) are sent as
        // they come, so psql prints them during a long statement.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        session.set_notice_sink(Some(tx));
        let (out, codes) = {
            let (fut, codes) = match prepared {
                Some((p, params, codes)) => (
                    Box::pin(guarded(
                        &state.cancel,
                        deadline,
                        session.execute_prepared(p, params),
                    ))
                        as std::pin::Pin<Box<dyn Future<Output = Result<Output, Error>> + Send>>,
                    codes,
                ),
                None => (
                    Box::pin(guarded(&state.cancel, deadline, session.execute(stmt)))
                        as std::pin::Pin<Box<dyn Future<Output = Result<Output, Error>> + Send>>,
                    vec![],
                ),
            };
            let mut fut = fut;
            let out = loop {
                tokio::select! {
                    r = &mut fut => break r,
                    Some(m) = rx.recv() => send_notice(client, m).await,
                }
            };
            (out, codes)
        };
        session.set_notice_sink(None);
        while let Ok(m) = rx.try_recv() {
            send_notice(client, m).await;
        }
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                session.note_error();
                return Err(e);
            }
        };
        Ok(match out {
            Output::Empty => Response::EmptyQuery,
            Output::Rows { schema, stream } if materialize => {
                // Later statements of the same message must not run if this one fails
                // while producing rows: collect them now.
                let batches: Vec<_> = guarded(&state.cancel, deadline, async {
                    let mut s = stream;
                    let mut v = vec![];
                    while let Some(b) = s.next().await {
                        v.push(b.map_err(Error::from)?);
                    }
                    Ok(v)
                })
                .await
                .inspect_err(|_| session.note_error())?;
                let mem = datafusion::physical_plan::memory::MemoryStream::try_new(
                    batches,
                    Arc::clone(&schema),
                    None,
                )
                .map_err(Error::from)?;
                Response::Query(row_stream(
                    schema,
                    Box::pin(mem),
                    codes,
                    text_options(session),
                    Arc::clone(&state.cancel),
                    deadline,
                    Arc::clone(&state.stream_failed),
                ))
            }
            Output::Rows { schema, stream } => Response::Query(row_stream(
                schema,
                stream,
                codes,
                text_options(session),
                Arc::clone(&state.cancel),
                deadline,
                Arc::clone(&state.stream_failed),
            )),
            Output::Command { tag, params } => {
                for (k, v) in params {
                    let _ = client
                        .send(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                            k, v,
                        )))
                        .await;
                }
                let t = command_tag(&tag);
                match tag.as_str() {
                    "BEGIN" => Response::TransactionStart(t),
                    "COMMIT" | "ROLLBACK" => Response::TransactionEnd(t),
                    _ => Response::Execution(t),
                }
            }
            Output::Deallocate(name) => {
                let tag = deallocate(client, session, name.as_deref())
                    .inspect_err(|_| session.note_error())?;
                Response::Execution(Tag::new(tag))
            }
            Output::DiscardAll => {
                deallocate(client, session, None).inspect_err(|_| session.note_error())?;
                Response::Execution(Tag::new("DISCARD ALL"))
            }
            Output::CopyOut {
                schema,
                stream,
                spec,
            } => Response::CopyOut(
                copy_out_stream(
                    schema,
                    stream,
                    &spec,
                    text_options(session),
                    Arc::clone(&state.cancel),
                )
                .map_err(|e| Error::user(SqlState::Internal, e.to_string()))?,
            ),
            Output::CopyIn(target) => {
                let ncols = target.targets.len();
                let format = i8::from(target.spec.format == CopyFormat::Binary);
                let parser = new_copy_parser(&target, session.settings.tz);
                *state.copy.lock().await = Some(CopyState {
                    target,
                    parser,
                    pending: vec![],
                    pending_bytes: 0,
                    rows: 0,
                    error: None,
                    tz: session.settings.tz,
                });
                Response::CopyIn(CopyResponse::new(format, ncols, stream::empty()))
            }
        })
    }
}

/// The statement a Bind or Describe names: one the protocol's Parse stored, else one SQL
/// `PREPARE` defined (as the protocol's statement, built for this message only, so that
/// `DEALLOCATE` and Close need only forget it in the session).
async fn statement_named<C>(
    client: &C,
    name: &str,
) -> PgWireResult<Option<Entry<StoredStatement<PreparedStmt>>>>
where
    C: ClientInfo + ClientPortalStore,
    C::PortalStore: PortalStore<Statement = PreparedStmt>,
{
    if let Some(e) = client.portal_store().get_statement(name) {
        return Ok(Some(e));
    }
    if name == DEFAULT_NAME {
        return Ok(None);
    }
    let state = conn(client)?;
    let Some(prepared) = state.session.lock().await.sql_prepared(name) else {
        return Ok(None);
    };
    let parameter_types = prepared
        .param_fields
        .iter()
        .map(|f| Some(pg_type(f)))
        .collect();
    Ok(Some(Entry::Value(Arc::new(StoredStatement::new(
        name.to_owned(),
        PreparedStmt {
            prepared,
            prepare_text: None,
        },
        parameter_types,
    )))))
}

/// PostgreSQL's error for a Bind with the wrong number of parameter values.
fn bind_arity(given: usize, name: &str, wanted: usize) -> PgWireError {
    user(
        SqlState::ProtocolViolation,
        format!(
            "bind message supplies {given} parameters, but prepared statement \"{name}\" requires {wanted}"
        ),
    )
}

/// `DEALLOCATE name` (`Some`) or `DEALLOCATE ALL` of the statements the client prepared
/// by Parse (the session forgot those of SQL `PREPARE`; the unnamed one stays, as in
/// PostgreSQL); returns the command tag.
fn deallocate<C>(client: &C, session: &Session, name: Option<&str>) -> Result<&'static str, Error>
where
    C: ClientPortalStore,
    C::PortalStore: PortalStore,
{
    let store = client.portal_store();
    let Some(name) = name else {
        for n in session.take_protocol_prepared() {
            store.rm_statement(&n);
        }
        return Ok("DEALLOCATE ALL");
    };
    if name == DEFAULT_NAME || store.get_statement(name).is_none() {
        return Err(strata_sql::sql_prepare::no_such_statement(name));
    }
    store.rm_statement(name);
    session.forget_protocol_prepared(name);
    Ok("DEALLOCATE")
}

fn new_copy_parser(target: &CopyIn, tz: TimeZoneSetting) -> AnyCopyParser {
    use strata_pgtypes::copy::{CopyFormat as F, CopyOptions, CopyParser};
    let schema = target.table.arrow_schema();
    let fields: Vec<Field> = target
        .targets
        .iter()
        .map(|i| schema.field(*i).clone())
        .collect();
    let sub = Arc::new(arrow::datatypes::Schema::new(fields));
    if target.spec.format == CopyFormat::Binary {
        return AnyCopyParser::Binary(
            strata_pgtypes::copy::binary::BinaryCopyParser::new(sub, 64 * 1024, tz)
                .with_table_name(target.table.name.clone()),
        );
    }
    let csv = target.spec.format == CopyFormat::Csv;
    let mut opts = if csv {
        CopyOptions::csv()
    } else {
        CopyOptions::text()
    };
    opts.format = if csv { F::Csv } else { F::Text };
    if let Some(d) = target.spec.delimiter {
        opts.delimiter = d as u8;
    }
    if let Some(n) = &target.spec.null {
        opts.null = n.clone();
    }
    opts.header = target.spec.header;
    if let Some(q) = target.spec.quote {
        opts.quote = q as u8;
    }
    if let Some(e) = target.spec.escape {
        opts.escape = e as u8;
    }
    AnyCopyParser::Text(CopyParser::new(sub, opts, 64 * 1024, tz))
}

/// Splits a full tag ("INSERT 0 5", "DELETE 3", "CREATE TABLE") into a pgwire Tag.
fn command_tag(tag: &str) -> Tag {
    let parts: Vec<&str> = tag.split(' ').collect();
    match parts.as_slice() {
        ["INSERT", oid, n] => Tag::new("INSERT")
            .with_oid(oid.parse().unwrap_or(0))
            .with_rows(n.parse().unwrap_or(0)),
        [cmd, n] if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            Tag::new(cmd).with_rows(n.parse().unwrap_or(0))
        }
        _ => Tag::new(tag),
    }
}

#[async_trait]
impl SimpleQueryHandler for Inner {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = conn(client)?;
        let mut session = state.session.lock().await;
        let stmts = match session.parse_shared(query) {
            Ok(s) => s,
            Err(e) => {
                session.note_error();
                return Ok(vec![Response::Error(Box::new(error_info(&e)))]);
            }
        };
        let mut out = Vec::with_capacity(stmts.len());
        let n = stmts.len();
        let prepares = stmts
            .iter()
            .any(|s| strata_sql::sql_prepare::prepare_target(s).is_some());
        if prepares {
            session.set_source_text(Some(query));
        }
        for (i, s) in stmts.iter().enumerate() {
            match self
                .run(client, &state, &mut session, s, None, i + 1 < n)
                .await
            {
                Ok(r) => {
                    let copy_in = matches!(r, Response::CopyIn(_));
                    out.push(r);
                    if copy_in {
                        break;
                    }
                }
                Err(e) => {
                    out.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        if prepares {
            session.set_source_text(None);
        }
        Ok(out)
    }
}

/// A statement prepared through the extended protocol.
#[derive(Debug, Clone)]
pub struct PreparedStmt {
    pub prepared: Arc<Prepared>,
    /// The Parse's query text, kept for a SQL `PREPARE` only (its
    /// `pg_prepared_statements.statement`).
    pub prepare_text: Option<Arc<str>>,
}

/// The extended-protocol parser: plans at Parse time through the connection's session.
#[derive(Debug)]
pub struct StrataParser;

#[async_trait]
impl QueryParser for StrataParser {
    type Statement = PreparedStmt;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let state = conn(client)?;
        let mut session = state.session.lock().await;
        let mut stmts = session.parse(sql).map_err(|e| to_pgwire(&e))?;
        if stmts.len() > 1 {
            return Err(user(
                SqlState::SyntaxError,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let stmt = stmts.pop().unwrap_or(Stmt::Empty);
        if matches!(stmt, Stmt::Empty) {
            return Ok(None);
        }
        let declared: Vec<Option<DataType>> = types
            .iter()
            .map(|t| {
                t.as_ref().and_then(|t| {
                    if t.oid() == 0 || *t == Type::UNKNOWN {
                        None
                    } else {
                        strata_pgtypes::oid::arrow_type_of_oid(t.oid())
                    }
                })
            })
            .collect();
        let casts: Vec<_> = types
            .iter()
            .map(|t| {
                t.as_ref()
                    .and_then(|t| strata_sql::sql_prepare::cast_of_oid(t.oid()))
            })
            .collect();
        let prepare_text = strata_sql::sql_prepare::prepare_target(&stmt).map(|_| Arc::from(sql));
        let p = session
            .prepare(stmt, &declared, &casts)
            .await
            .map_err(|e| to_pgwire(&e))?;
        Ok(Some(PreparedStmt {
            prepared: Arc::new(p),
            prepare_text,
        }))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(stmt.prepared.param_fields.iter().map(pg_type).collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let Some(schema) = &stmt.prepared.result_schema else {
            return Ok(vec![]);
        };
        let codes = codes_of(column_format, schema.fields().len());
        Ok(field_infos(schema, &codes))
    }
}

fn codes_of(f: Option<&Format>, n: usize) -> Vec<i16> {
    match f {
        None | Some(Format::UnifiedText) => vec![],
        Some(Format::UnifiedBinary) => vec![1],
        Some(Format::Individual(v)) => {
            if v.len() == 1 {
                v.clone()
            } else {
                (0..n).map(|i| v.get(i).copied().unwrap_or(0)).collect()
            }
        }
    }
}

/// Decodes bound parameters into values of the prepared parameter types.
fn decode_params(
    portal: &Portal<PreparedStmt>,
    tz: TimeZoneSetting,
) -> Result<Vec<ScalarValue>, Error> {
    let p = &portal.statement.statement.prepared;
    let declared = &portal.statement.parameter_types;
    let mut out = Vec::with_capacity(portal.parameters.len());
    for (i, raw) in portal.parameters.iter().enumerate() {
        let field = p
            .param_fields
            .get(i)
            .cloned()
            .unwrap_or_else(|| Field::new(format!("${}", i + 1), DataType::Utf8, true));
        let dt = field.data_type().clone();
        let Some(bytes) = raw else {
            out.push(ScalarValue::try_from(&dt).map_err(Error::from)?);
            continue;
        };
        let binary = match &portal.parameter_format {
            Format::UnifiedText => false,
            Format::UnifiedBinary => true,
            Format::Individual(v) => {
                v.get(if v.len() == 1 { 0 } else { i })
                    .copied()
                    .unwrap_or(0)
                    == 1
            }
        };
        if let DataType::List(elem) = &dt {
            out.push(decode_array_param(bytes, binary, elem, tz)?);
            continue;
        }
        let v = if binary {
            let oid = declared
                .get(i)
                .cloned()
                .flatten()
                .map(|t| t.oid())
                .unwrap_or_else(|| pg_type(&field).oid());
            strata_pgtypes::decode::parse_binary_value_for_field(bytes, oid, &field, tz)
        } else {
            let s = std::str::from_utf8(bytes).map_err(|_| {
                Error::user(
                    SqlState::InvalidTextRepresentation,
                    "invalid UTF-8 in parameter",
                )
            })?;
            strata_pgtypes::decode::parse_text_value(s, &field, tz)
        };
        let v =
            v.map_err(|e| Error::user(strata_sql::dml::sqlstate_of_code(e.sqlstate), e.message))?;
        let arr = strata_pgtypes::decode::scalar_to_array(&v, &field, tz)
            .map_err(|e| Error::user(strata_sql::dml::sqlstate_of_code(e.sqlstate), e.message))?;
        out.push(ScalarValue::try_from_array(&arr, 0).map_err(Error::from)?);
    }
    Ok(out)
}

/// A one-dimensional array parameter (`= ANY($1)` with a list from the driver), in text
/// (`{a,b,NULL}`) or binary (`array_send`: dimensions, flags, element oid, bounds, then
/// length-prefixed elements) format, as a `List` scalar of `elem`'s type.
fn decode_array_param(
    bytes: &[u8],
    binary: bool,
    elem: &arrow::datatypes::FieldRef,
    tz: TimeZoneSetting,
) -> Result<ScalarValue, Error> {
    use strata_pgtypes::decode::{ColumnBuilder, DecodeError};
    let bad = || {
        Error::user(
            strata_sql::dml::sqlstate_of_code("22P03"),
            "incorrect binary data format",
        )
    };
    let pg = |e: DecodeError| Error::user(strata_sql::dml::sqlstate_of_code(e.sqlstate), e.message);
    let mut b = ColumnBuilder::new(elem, 8, tz);
    if binary {
        let i32_at = |at: usize| -> Result<i32, Error> {
            bytes
                .get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .map(i32::from_be_bytes)
                .ok_or_else(bad)
        };
        let ndim = i32_at(0)?;
        let elem_oid = i32_at(8)? as u32;
        let mut pos = 12;
        let count = match ndim {
            0 => 0,
            1 => {
                pos += 8;
                usize::try_from(i32_at(12)?).map_err(|_| bad())?
            }
            _ => {
                return Err(Error::unsupported("multi-dimensional array parameters"));
            }
        };
        for _ in 0..count {
            let len = i32_at(pos)?;
            pos += 4;
            if len < 0 {
                b.append_null();
                continue;
            }
            let v = bytes.get(pos..pos + len as usize).ok_or_else(bad)?;
            pos += len as usize;
            let x = strata_pgtypes::decode::parse_binary_value_for_field(v, elem_oid, elem, tz)
                .map_err(pg)?;
            b.append_scalar_owned(x).map_err(pg)?;
        }
    } else {
        let s = std::str::from_utf8(bytes).map_err(|_| {
            Error::user(
                SqlState::InvalidTextRepresentation,
                "invalid UTF-8 in parameter",
            )
        })?;
        let items = strata_sql::rewrite::parse_array_literal(s).ok_or_else(|| {
            Error::user(
                SqlState::InvalidTextRepresentation,
                format!("malformed array literal: \"{s}\""),
            )
        })?;
        for item in items {
            match item {
                None => b.append_null(),
                Some(t) => b.append_text(&t).map_err(pg)?,
            }
        }
    }
    let values = b.finish();
    let offsets = arrow::buffer::OffsetBuffer::from_lengths([values.len()]);
    let list = arrow::array::ListArray::try_new(Arc::clone(elem), offsets, values, None)
        .map_err(|e| Error::from(datafusion::error::DataFusionError::from(e)))?;
    Ok(ScalarValue::List(Arc::new(list)))
}

#[async_trait]
impl ExtendedQueryHandler for Inner {
    type Statement = PreparedStmt;
    type QueryParser = StrataParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    /// pgwire's default Parse, refusing a name already in use (the unnamed statement is
    /// replaced, as in PostgreSQL) and recording a named statement in the session (for
    /// `DEALLOCATE ALL` and `pg_prepared_statements`).
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        // One namespace with SQL's PREPARE, as in PostgreSQL.
        if name != DEFAULT_NAME
            && (client.portal_store().get_statement(name).is_some()
                || conn(client)?.session.lock().await.has_sql_prepared(name))
        {
            return Err(to_pgwire(&strata_sql::sql_prepare::duplicate_statement(
                name,
            )));
        }
        let stmt = StoredStatement::parse(client, &message, self.query_parser()).await?;
        if name != DEFAULT_NAME {
            conn(client)?.session.lock().await.note_protocol_prepared(
                name,
                &message.query,
                stmt.as_ref().map(|s| Arc::clone(&s.statement.prepared)),
            );
        }
        match stmt {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(name),
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's default Bind, where the statement may also be one SQL `PREPARE` defined
    /// (one namespace, as in PostgreSQL: a driver may `PREPARE` by SQL and bind by name).
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
        match statement_named(client, name).await? {
            Some(Entry::Value(stmt)) => {
                let params = stmt
                    .statement
                    .prepared
                    .param_fields
                    .len()
                    .max(stmt.parameter_types.len());
                if message.parameters.len() != params {
                    return Err(bind_arity(message.parameters.len(), name, params));
                }
                let portal = Portal::try_new(&message, stmt)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) => {
                if !message.parameters.is_empty() {
                    return Err(bind_arity(message.parameters.len(), name, 0));
                }
                client.portal_store().put_empty_portal(portal_name);
            }
            None => {
                return Err(to_pgwire(&strata_sql::sql_prepare::no_such_statement(name)));
            }
        }
        client
            .send(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's default Close, also forgetting a closed statement's name (a statement SQL
    /// `PREPARE` defined may be closed too, as in PostgreSQL).
    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                client.portal_store().rm_statement(name);
                let state = conn(client)?;
                let mut session = state.session.lock().await;
                if !session.forget_protocol_prepared(name) {
                    session.remove_sql_prepared(name);
                }
            }
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => {}
        }
        client
            .send(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    /// Describe of a statement that returns no rows answers ParameterDescription + NoData, as
    /// PostgreSQL does (pgwire sends an empty RowDescription when there are parameters, and
    /// pgjdbc then takes an INSERT for a query: "A result was returned when none was expected").
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = statement_named(client, name).await? {
                let d = self.do_describe_statement(client, &stmt).await?;
                if stmt.statement.prepared.result_schema.is_some() {
                    send_describe_response(client, &d).await?;
                    return Ok(());
                }
                let oids = d.parameters.iter().map(|t| t.oid()).collect();
                client
                    .send(PgWireBackendMessage::ParameterDescription(
                        ParameterDescription::new(oids),
                    ))
                    .await?;
                client
                    .send(PgWireBackendMessage::NoData(NoData::new()))
                    .await?;
                return Ok(());
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let server = self.parser.get_parameter_types(&target.statement)?;
        let n = server.len().max(target.parameter_types.len());
        let types = (0..n)
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| t.oid() != 0)
                    .or_else(|| server.get(i).cloned())
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let fields = self.parser.get_result_schema(&target.statement, None)?;
        Ok(DescribeStatementResponse::new(types, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = self.parser.get_result_schema(
            &target.statement.statement,
            Some(&target.result_column_format),
        )?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = conn(client)?;
        let mut session = state.session.lock().await;
        let p = Arc::clone(&portal.statement.statement.prepared);
        let params = match decode_params(portal, session.settings.tz) {
            Ok(v) => v,
            Err(e) => return Err(to_pgwire(&e)),
        };
        let n = p
            .result_schema
            .as_ref()
            .map(|s| s.fields().len())
            .unwrap_or(0);
        let codes = codes_of(Some(&portal.result_column_format), n);
        let stmt = p.stmt.clone();
        let text = portal.statement.statement.prepare_text.as_deref();
        if text.is_some() {
            session.set_source_text(text);
        }
        let r = self
            .run(
                client,
                &state,
                &mut session,
                &stmt,
                Some((&p, params, codes)),
                false,
            )
            .await;
        if text.is_some() {
            session.set_source_text(None);
        }
        r.map_err(|e| to_pgwire(&e))
    }
}

#[async_trait]
impl CopyHandler for Inner {
    async fn on_copy_data<C>(&self, client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = conn(client)?;
        let mut guard = state.copy.lock().await;
        let Some(cs) = guard.as_mut() else {
            return Ok(());
        };
        if cs.error.is_some() {
            return Ok(());
        }
        match cs.parser.feed(&data.data) {
            Ok(batches) => {
                for b in batches {
                    cs.pending_bytes += b.get_array_memory_size();
                    cs.pending.push(b);
                }
                if cs.pending_bytes >= COPY_COMMIT_BYTES
                    && let Err(e) = commit_copy(&self.engine, cs).await
                {
                    cs.error = Some(e);
                }
            }
            Err(e) => cs.error = Some(copy_error(e)),
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = conn(client)?;
        let Some(mut cs) = state.copy.lock().await.take() else {
            return Err(user(
                SqlState::ProtocolViolation,
                "COPY data without COPY command",
            ));
        };
        if let Some(e) = cs.error.take() {
            return Err(to_pgwire(&e));
        }
        match cs.parser.finish() {
            Ok(Some(b)) => cs.pending.push(b),
            Ok(None) => {}
            Err(e) => return Err(to_pgwire(&copy_error(e))),
        }
        commit_copy(&self.engine, &mut cs)
            .await
            .map_err(|e| to_pgwire(&e))?;
        let _ = cs.tz;
        client
            .send(PgWireBackendMessage::CommandComplete(
                Tag::new("COPY").with_rows(cs.rows as usize).into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok(state) = conn(client) {
            *state.copy.lock().await = None;
        }
        user(
            SqlState::QueryCanceled,
            format!("COPY from stdin failed: {}", fail.message),
        )
    }
}

fn copy_error(e: strata_pgtypes::copy::CopyError) -> Error {
    Error::user(strata_sql::dml::sqlstate_of_code(e.sqlstate), e.to_string())
}

/// Writes the parsed COPY rows as one durable WAL record.
async fn commit_copy(engine: &Engine, cs: &mut CopyState) -> Result<(), Error> {
    if cs.pending.is_empty() {
        return Ok(());
    }
    let def = &cs.target.table;
    let schema = def.arrow_schema();
    let now = chrono::Utc::now().timestamp_micros();
    let mut full = Vec::with_capacity(cs.pending.len());
    for b in cs.pending.drain(..) {
        let rows = b.num_rows();
        full.push(strata_sql::dml::complete_batch(
            def,
            &schema,
            &cs.target.targets,
            b.columns().to_vec(),
            rows,
            now,
        )?);
    }
    cs.pending_bytes = 0;
    let batch = arrow::compute::concat_batches(&schema, &full)
        .map_err(|e| Error::from(datafusion::error::DataFusionError::from(e)))?;
    let n = batch.num_rows() as u64;
    match &cs.target.txn {
        // Inside a transaction block: written at COMMIT.
        Some(t) => t.lock().push(def.id, batch)?,
        None => engine.write(def.id, batch).await?,
    }
    cs.rows += n;
    Ok(())
}
