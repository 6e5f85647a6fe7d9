//! The import plan: which objects, in which order.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::mapping::Mappers;
use crate::object::SObject;

/// Expands the user's selection with the objects imported alongside
/// (`OrderItem` with `Order`), then orders it so that every object comes
/// after the objects it looks up (a topological sort of the mappers'
/// lookups). Self-references (`Account.ParentId`) are not edges: they are
/// resolved by a second pass. Lookups to objects outside the selection are
/// not edges either: they resolve only against records imported earlier.
///
/// Ties keep the order of [`Mappers`], so the plan is deterministic.
pub(crate) fn plan(mappers: &Mappers, selected: &[SObject]) -> Result<Vec<SObject>> {
    if selected.is_empty() {
        return Err(Error::config("select at least one object to import"));
    }
    let mut chosen: BTreeSet<SObject> = BTreeSet::new();
    for object in selected {
        if mappers.get(object).is_none() {
            return Err(Error::config(format!(
                "no mapper for {object}: it cannot be imported"
            )));
        }
        chosen.insert(object.clone());
    }
    // Companions, to a fixed point (a companion may have companions).
    loop {
        let before = chosen.len();
        for m in mappers.iter() {
            if m.imported_with()
                .is_some_and(|parent| chosen.contains(&parent))
            {
                chosen.insert(m.object());
            }
        }
        if chosen.len() == before {
            break;
        }
    }
    // Kahn's algorithm over the chosen objects, in mapper order.
    let order: Vec<SObject> = mappers
        .iter()
        .map(|m| m.object())
        .filter(|o| chosen.contains(o))
        .collect();
    let depends = |o: &SObject| -> Vec<SObject> {
        mappers
            .get(o)
            .map(|m| {
                m.lookups()
                    .iter()
                    .map(|l| l.target.clone())
                    .filter(|t| t != o && chosen.contains(t))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut done: Vec<SObject> = Vec::with_capacity(order.len());
    while done.len() < order.len() {
        let next = order
            .iter()
            .find(|o| !done.contains(o) && depends(o).iter().all(|d| done.contains(d)));
        match next {
            Some(o) => done.push(o.clone()),
            None => {
                let stuck: Vec<String> = order
                    .iter()
                    .filter(|o| !done.contains(o))
                    .map(|o| o.to_string())
                    .collect();
                return Err(Error::config(format!(
                    "the lookups between {} form a cycle; make one of them optional and import it in a second pass",
                    stuck.join(", ")
                )));
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::Link;
    use crate::error::RecordError;
    use crate::mapping::{LookupSpec, Mapped, Mapper, Tables};
    use crate::record::SfRecord;

    fn names(p: &[SObject]) -> Vec<&str> {
        p.iter().map(SObject::as_str).collect()
    }

    #[test]
    fn everything_in_dependency_order() {
        let all = [
            SObject::QUOTE,
            SObject::ORDER,
            SObject::OPPORTUNITY,
            SObject::CONTACT,
            SObject::ACCOUNT,
            SObject::PRODUCT2,
        ];
        let p = plan(&Mappers::standard(), &all).unwrap();
        assert_eq!(p.len(), 9, "{p:?}");
        let pos = |o: &SObject| p.iter().position(|x| x == o).unwrap();
        for m in Mappers::standard().iter() {
            for l in m.lookups() {
                if l.target != m.object() {
                    assert!(
                        pos(&l.target) < pos(&m.object()),
                        "{} before {}",
                        l.target,
                        m.object()
                    );
                }
            }
        }
    }

    #[test]
    fn companions_come_along() {
        let p = plan(&Mappers::standard(), &[SObject::ORDER]).unwrap();
        assert_eq!(names(&p), ["Order", "OrderItem"]);
        let p = plan(&Mappers::standard(), &[SObject::PRODUCT2]).unwrap();
        assert_eq!(names(&p), ["Product2", "PricebookEntry"]);
    }

    #[test]
    fn unselected_objects_are_never_added() {
        let p = plan(&Mappers::standard(), &[SObject::CONTACT]).unwrap();
        assert_eq!(names(&p), ["Contact"]);
    }

    #[test]
    fn self_reference_is_not_a_cycle() {
        let p = plan(&Mappers::standard(), &[SObject::ACCOUNT]).unwrap();
        assert_eq!(names(&p), ["Account"]);
    }

    #[test]
    fn empty_and_unknown_selections_are_refused() {
        assert!(matches!(
            plan(&Mappers::standard(), &[]),
            Err(Error::Config { .. })
        ));
        let err = plan(&Mappers::standard(), &[SObject::new("Invoice__c")]).unwrap_err();
        assert!(err.to_string().contains("Invoice__c"));
    }

    #[derive(Debug)]
    struct Cyclic(SObject, SObject);

    impl Mapper for Cyclic {
        fn object(&self) -> SObject {
            self.0.clone()
        }
        fn fields(&self) -> &[&'static str] {
            &["Id"]
        }
        fn lookups(&self) -> &[LookupSpec] {
            Box::leak(Box::new([LookupSpec::required(
                "OtherId",
                self.1.clone(),
                Link::Custom("other".into()),
            )]))
        }
        fn map(&self, _: &SfRecord, _: &Tables) -> Result<Mapped, RecordError> {
            unreachable!("plan never maps")
        }
    }

    #[test]
    fn a_real_cycle_is_a_config_error_naming_the_objects() {
        let (a, b) = (SObject::new("A__c"), SObject::new("B__c"));
        let mappers = Mappers::empty()
            .with(Cyclic(a.clone(), b.clone()))
            .with(Cyclic(b.clone(), a.clone()));
        let err = plan(&mappers, &[a, b]).unwrap_err().to_string();
        assert!(
            err.contains("A__c") && err.contains("B__c") && err.contains("cycle"),
            "{err}"
        );
    }
}
