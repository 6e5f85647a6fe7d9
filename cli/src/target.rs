//! Where the records go: the in-memory CRM, or PostgreSQL (the reference
//! CRM schema and the job store, migrated first). Both into `--tenant`,
//! the same on every run: in PostgreSQL a second run finds the first one's
//! records, jobs and id map.

use std::sync::Arc;

use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
use salesforce_import::{
    CrmSink, Error, InMemoryJobStore, InMemorySink, JobStore, Result, SObject, TenantId,
};

use crate::args::{Args, TargetKind};

pub(crate) struct Target {
    /// "the in-memory CRM", "PostgreSQL".
    pub name: &'static str,
    pub tenant: TenantId,
    pub sink: Arc<dyn CrmSink>,
    pub jobs: Arc<dyn JobStore>,
    store: Store,
}

/// The concrete sink, to count what it holds.
enum Store {
    Memory(Arc<InMemorySink>),
    Postgres(Arc<PgCrmSink>),
}

impl Target {
    pub(crate) async fn open(args: &Args) -> Result<Target> {
        match args.into {
            TargetKind::Memory => {
                let sink = Arc::new(InMemorySink::new());
                Ok(Target {
                    name: "the in-memory CRM",
                    tenant: args.tenant.clone(),
                    sink: sink.clone(),
                    jobs: Arc::new(InMemoryJobStore::new()),
                    store: Store::Memory(sink),
                })
            }
            TargetKind::Postgres => {
                let url = args
                    .database_url
                    .clone()
                    .or_else(|| std::env::var("DATABASE_URL").ok())
                    .ok_or_else(|| {
                        Error::config("--into postgres needs --database-url or DATABASE_URL")
                    })?;
                let pool = sqlx::PgPool::connect(&url)
                    .await
                    .map_err(|e| Error::store("postgres", "connecting", e))?;
                postgres::migrate(&pool).await?;
                postgres::migrate_crm(&pool).await?;
                let sink = Arc::new(PgCrmSink::new(pool.clone()));
                Ok(Target {
                    name: "PostgreSQL",
                    tenant: args.tenant.clone(),
                    sink: sink.clone(),
                    jobs: Arc::new(PgJobStore::new(pool)),
                    store: Store::Postgres(sink),
                })
            }
        }
    }

    /// Records of `object` in the CRM, as the CRM itself counts them.
    pub(crate) async fn count(&self, object: &SObject) -> Result<u64> {
        Ok(match &self.store {
            Store::Memory(m) => m.count(&self.tenant, object) as u64,
            Store::Postgres(pg) => pg.count(&self.tenant, object).await?.unwrap_or(0),
        })
    }

    pub(crate) async fn count_all(&self) -> Result<u64> {
        let mut n = 0;
        for o in &SObject::STANDARD {
            n += self.count(o).await?;
        }
        Ok(n)
    }

    /// For a database: what it holds now, read back from it.
    pub(crate) async fn print_counts(&self) -> Result<()> {
        if matches!(self.store, Store::Memory(_)) {
            return Ok(());
        }
        println!("\nRead back from {} (tenant {}):", self.name, self.tenant);
        for o in &SObject::STANDARD {
            println!("  {:<16} {:>5}", o.to_string(), self.count(o).await?);
        }
        Ok(())
    }
}
