//! The phases, each run in a child process of its own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use salesforce_import::mapping::{Mappers, Tables};
use salesforce_import::postgres::{PgCrmSink, PgJobStore};
use salesforce_import::{
    CrmSink, ImportRequest, Importer, InMemoryJobStore, InMemorySink, JobStore, SObject, SfId,
};
use sqlx::AssertSqlSafe;
use sqlx::types::Uuid;

use crate::org::{Org, connect_org, fresh_schema, read_object};
use crate::report::{ObjectTimes, PhaseReport, proc_cpu_secs, proc_status_kb};
use crate::rows::{Table, copy_text, dedupe_account_name, resolve, row};
use crate::timing::{TimedJobs, TimedSink, TimedSource, Timeline, timed_mappers};
use crate::{Args, REPORT};

pub(crate) async fn phase_fetch(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let mut report = PhaseReport::default();
    let started = Instant::now();
    for object in SObject::STANDARD {
        let t = Instant::now();
        let mut records = 0;
        let pages = read_object(
            org.source.as_ref(),
            &org.tenant,
            &object,
            args.page_size,
            |r| records += r.len() as u64,
        )
        .await;
        let secs = t.elapsed().as_secs_f64();
        report.records += records;
        report.objects.push(ObjectTimes {
            object: object.to_string(),
            records,
            pages,
            wall: secs,
            fetch: secs,
            ..ObjectTimes::default()
        });
    }
    report.secs = started.elapsed().as_secs_f64();
    report
}

pub(crate) async fn phase_copy(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let tenant = org.tenant.as_str().to_owned();
    let mappers = Mappers::standard();
    let tables = Tables::default();
    let mut report = PhaseReport::default();
    let started = Instant::now();
    // Read, map and resolve every record; CRM ids are made here.
    let mut known: HashMap<SfId, String> = HashMap::new();
    let mut names = HashSet::new();
    let mut next_id: u128 = 1;
    let mut buffers: Vec<(SObject, &'static Table, Vec<u8>, u64)> = Vec::new();
    let mut idmap: Vec<u8> = Vec::new();
    for object in SObject::STANDARD {
        let mapper = mappers.get(&object).expect("a standard mapper").clone();
        let mut buf = Vec::new();
        let mut table = None;
        let mut rows = 0;
        read_object(
            org.source.as_ref(),
            &org.tenant,
            &object,
            args.page_size,
            |records| {
                for r in records {
                    let Ok(mut mapped) = mapper.map(&r, &tables) else {
                        continue;
                    };
                    if !resolve(&mut mapped, &known) {
                        continue;
                    }
                    dedupe_account_name(&mut mapped.record, &mapped.sf_id, &mut names);
                    let Some((t, values)) = row(&mapped.record) else {
                        continue;
                    };
                    let id = Uuid::from_u128(next_id).to_string();
                    next_id += 1;
                    let mapped_id = if t.mapped_id == "id" {
                        id.clone()
                    } else {
                        values[0].clone().expect("a price has its product")
                    };
                    let head = [
                        Some(id),
                        Some(tenant.clone()),
                        Some(mapped.sf_id.as_str().to_owned()),
                    ];
                    copy_text(&mut buf, head.into_iter().chain(values));
                    copy_text(
                        &mut idmap,
                        [
                            Some(tenant.clone()),
                            Some(object.to_string()),
                            Some(mapped.sf_id.as_str().to_owned()),
                            Some(mapped_id.clone()),
                        ],
                    );
                    known.insert(mapped.sf_id, mapped_id);
                    table = Some(t);
                    rows += 1;
                }
            },
        )
        .await;
        if let Some(t) = table {
            buffers.push((object, t, buf, rows));
        }
    }
    drop(known);
    let schema = fresh_schema("copy").await;
    report.prepare_secs = started.elapsed().as_secs_f64();

    let mut conn = schema.pool.acquire().await.expect("a connection");
    let started = Instant::now();
    for (object, table, buf, rows) in &buffers {
        let t = Instant::now();
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let sql = format!(
            "COPY {} (id, tenant_id, sf_id, {}) FROM STDIN",
            table.name,
            columns.join(", ")
        );
        let mut copy = conn.copy_in_raw(&sql).await.expect("COPY");
        for chunk in buf.chunks(1 << 20) {
            copy.send(chunk).await.expect("COPY data");
        }
        let copied = copy.finish().await.expect("COPY");
        assert_eq!(copied, *rows, "{object}: every row copied");
        report.records += rows;
        report.objects.push(ObjectTimes {
            object: object.to_string(),
            records: *rows,
            wall: t.elapsed().as_secs_f64(),
            copy: t.elapsed().as_secs_f64(),
            ..ObjectTimes::default()
        });
    }
    report.secs = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY sf_import_id_map (tenant_id, object, sf_id, crm_id) FROM STDIN")
        .await
        .expect("COPY");
    for chunk in idmap.chunks(1 << 20) {
        copy.send(chunk).await.expect("COPY data");
    }
    copy.finish().await.expect("COPY");
    report.idmap_copy_secs = t.elapsed().as_secs_f64();
    drop(conn);
    schema.drop().await;
    report
}

/// An import of every object through the engine, each port timed.
pub(crate) async fn import(
    org: &Org,
    sink: Arc<dyn CrmSink>,
    jobs: Arc<dyn JobStore>,
    args: &Args,
    report: &mut PhaseReport,
) {
    let timeline = Arc::new(Timeline::default());
    let (mappers, clocks) = timed_mappers();
    let source = TimedSource {
        inner: org.source.clone(),
        timeline: timeline.clone(),
    };
    let importer = Importer::builder(
        Arc::new(source),
        Arc::new(TimedSink {
            inner: sink,
            timeline: timeline.clone(),
        }),
        Arc::new(TimedJobs {
            inner: jobs,
            timeline: timeline.clone(),
        }),
    )
    .vault(org.vault.clone())
    .mappers(mappers)
    .page_size(args.page_size);
    let importer = match args.pages_in_flight {
        0 => importer,
        n => importer.pages_in_flight(n),
    };
    let importer = match args.objects_in_flight {
        0 => importer,
        n => importer.objects_in_flight(n),
    };
    let importer = match args.id_cache {
        None => importer,
        Some(n) => importer.id_cache(n),
    };
    let importer = importer.build().expect("an importer");
    let started = Instant::now();
    let job = importer
        .run(
            &org.tenant,
            ImportRequest::new("bench", SObject::SELECTABLE),
        )
        .await
        .expect("the import");
    report.secs = started.elapsed().as_secs_f64();
    report.status = format!("{:?}", job.status);
    report.failed = job.errors();
    report.records = job.objects.iter().map(|o| o.processed()).sum();
    let mut state = timeline.lock();
    for (object, nanos) in clocks {
        state.object(object.as_str()).map = nanos.load(Ordering::Relaxed) as f64 / 1e9;
    }
    for o in &job.objects {
        state.object(o.object.as_str()).records = o.processed();
    }
    report.objects = state.objects.clone();
    report.job_admin = state.job_admin;
}

pub(crate) async fn phase_pg(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let schema = fresh_schema("import").await;
    let mut report = PhaseReport::default();
    import(
        &org,
        Arc::new(PgCrmSink::new(schema.pool.clone())),
        Arc::new(PgJobStore::new(schema.pool.clone())),
        args,
        &mut report,
    )
    .await;
    schema.drop().await;
    report
}

pub(crate) async fn phase_mem(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let mut report = PhaseReport::default();
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let before = proc_status_kb("VmRSS:");
    import(&org, sink.clone(), jobs.clone(), args, &mut report).await;
    // The CRM and the job store still hold everything here.
    report.held_kb = proc_status_kb("VmRSS:") as i64 - before as i64;
    drop((sink, jobs));
    report
}

/// The seed plan's algorithm: per record, one id-map lookup for its
/// references, then one statement inserting the CRM row and its mapping.
pub(crate) async fn phase_seed(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let schema = fresh_schema("seed").await;
    let pool = schema.pool.clone();
    let tenant = org.tenant.as_str().to_owned();
    let mappers = Mappers::standard();
    let tables = Tables::default();
    let mut report = PhaseReport::default();
    let mut names = HashSet::new();
    let started = Instant::now();
    for object in SObject::STANDARD {
        let mapper = mappers.get(&object).expect("a standard mapper").clone();
        let t = Instant::now();
        let mut records = Vec::new();
        // Read first: the baseline is about the writes.
        read_object(
            org.source.as_ref(),
            &org.tenant,
            &object,
            args.page_size,
            |page| records.extend(page),
        )
        .await;
        let fetched = t.elapsed().as_secs_f64();
        let mut times = ObjectTimes {
            object: object.to_string(),
            fetch: fetched,
            ..ObjectTimes::default()
        };
        for r in records {
            let Ok(mut mapped) = mapper.map(&r, &tables) else {
                report.failed += 1;
                continue;
            };
            let wanted: Vec<String> = mapped
                .lookups
                .iter()
                .map(|l| l.sf_id.as_str().to_owned())
                .collect();
            let mut known = HashMap::new();
            if !wanted.is_empty() {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT sf_id, crm_id FROM sf_import_id_map
                     WHERE tenant_id = $1 AND sf_id = ANY($2)",
                )
                .bind(&tenant)
                .bind(&wanted)
                .fetch_all(&pool)
                .await
                .expect("an id-map lookup");
                for (sf, crm) in rows {
                    known.insert(SfId::parse(&sf).expect("a stored id"), crm);
                }
            }
            if !resolve(&mut mapped, &known) {
                report.failed += 1;
                continue;
            }
            dedupe_account_name(&mut mapped.record, &mapped.sf_id, &mut names);
            let Some((table, values)) = row(&mapped.record) else {
                continue;
            };
            let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
            let params: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, ty))| format!("${}::{ty}", i + 4))
                .collect();
            let sql = format!(
                "WITH r AS (INSERT INTO {} (tenant_id, sf_id, {}) VALUES ($1, $2, {})
                 RETURNING {}) INSERT INTO sf_import_id_map (tenant_id, object, sf_id, crm_id)
                 SELECT $1, $3, $2, {}::text FROM r",
                table.name,
                columns.join(", "),
                params.join(", "),
                table.mapped_id,
                table.mapped_id,
            );
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .bind(&tenant)
                .bind(mapped.sf_id.as_str())
                .bind(object.as_str());
            for v in values {
                q = q.bind(v);
            }
            match q.execute(&pool).await {
                Ok(_) => times.records += 1,
                Err(_) => report.failed += 1,
            }
        }
        times.wall = t.elapsed().as_secs_f64() - fetched;
        times.write = times.wall;
        report.records += times.records;
        report.objects.push(times);
    }
    let total = started.elapsed().as_secs_f64();
    report.secs = total - report.objects.iter().map(|o| o.fetch).sum::<f64>();
    schema.drop().await;
    report
}

pub(crate) async fn phase_latency(args: &Args) -> PhaseReport {
    let fetched = phase_fetch(args).await;
    let mut report = phase_mem(args).await;
    report.fetch_objects = fetched.objects;
    report
}

pub(crate) async fn run_child(phase: &str, args: &Args) {
    let mut report = match phase {
        "fetch" => phase_fetch(args).await,
        "copy" => phase_copy(args).await,
        "pg" | "small" => phase_pg(args).await,
        "mem" => phase_mem(args).await,
        "seed" => phase_seed(args).await,
        "latency" => phase_latency(args).await,
        other => panic!("unknown phase {other}"),
    };
    report.phase = phase.to_owned();
    report.hwm_kb = proc_status_kb("VmHWM:");
    report.cpu_secs = proc_cpu_secs();
    println!(
        "{REPORT}{}",
        serde_json::to_string(&report).expect("a report")
    );
}
