//! Rules against classified statements: defaults, conditions, globs, fail-closed.

use super::*;

fn classified(kind: StatementKind, objects: &[(&str, &str)]) -> Classification {
    Classification {
        kind,
        objects: objects
            .iter()
            .map(|(schema, name)| ObjectRef {
                schema: (!schema.is_empty()).then(|| (*schema).to_owned()),
                name: (*name).to_owned(),
            })
            .collect(),
        destructive: kind.is_destructive(),
        if_exists: false,
        temporary: false,
    }
}

fn context(c: &Classification, fk: bool) -> StatementContext<'_> {
    StatementContext {
        classification: c,
        database: Some("shop"),
        foreign_key_checks: fk,
        unique_checks: true,
        sql_log_bin: true,
        origin_thread: Some(7),
    }
}

fn default_policy() -> Policy {
    Policy::from_config(None).unwrap()
}

#[test]
fn default_policy_halts_the_incident_and_logs_other_ddl() {
    let p = default_policy();
    let drop = classified(StatementKind::DropTable, &[("", "orders")]);
    assert_eq!(p.decide(&context(&drop, false)).action, Action::Halt);
    assert_eq!(
        p.decide(&context(&drop, false)).rule,
        "destructive-ddl-without-fk-checks"
    );
    assert_eq!(
        p.decide(&context(&drop, true)).action,
        Action::Log,
        "FK checks on: logged only"
    );
    let truncate = classified(StatementKind::Truncate, &[("", "orders")]);
    assert_eq!(p.decide(&context(&truncate, false)).action, Action::Halt);
    let drop_db = classified(StatementKind::DropDatabase, &[("", "shop")]);
    assert_eq!(
        p.decide(&context(&drop_db, true)).action,
        Action::Halt,
        "DROP DATABASE always"
    );
    let insert = classified(StatementKind::Insert, &[("", "orders")]);
    assert_eq!(
        p.decide(&context(&insert, false)),
        Verdict {
            action: Action::Allow,
            rule: NO_RULE.into()
        }
    );
}

#[test]
fn temporary_tables_are_not_the_disaster() {
    let p = default_policy();
    let mut drop_tmp = classified(StatementKind::DropTable, &[("", "tmp_x")]);
    drop_tmp.temporary = true;
    drop_tmp.destructive = false;
    assert_eq!(p.decide(&context(&drop_tmp, false)).action, Action::Allow);
}

#[test]
fn on_destructive_sets_only_the_destructive_rules() {
    let mut p = default_policy();
    p.set_destructive_action(Action::QuarantineOrigin);
    let drop = classified(StatementKind::DropTable, &[("", "orders")]);
    assert_eq!(
        p.decide(&context(&drop, false)).action,
        Action::QuarantineOrigin
    );
    let alter = classified(StatementKind::AlterTable, &[("", "orders")]);
    assert_eq!(p.decide(&context(&alter, false)).action, Action::Log);
    assert!(p.needs_journal());
    assert!(!default_policy().needs_journal());
}

#[test]
fn configured_rules_match_on_globs_conditions_and_origin() {
    let rules: Vec<RuleConfig> =
        toml::from_str::<std::collections::HashMap<String, Vec<RuleConfig>>>(
            r#"
        [[rule]]
        name = "protect-billing"
        kinds = ["drop_table", "truncate", "delete_without_where"]
        schema = "bill*"
        table = "inv?ice*"
        action = "reject"

        [[rule]]
        name = "thread-9"
        origin_threads = [9]
        action = "quarantine"
        "#,
        )
        .unwrap()
        .remove("rule")
        .unwrap();
    let p = Policy::from_config(Some(&rules)).unwrap();
    let hit = classified(
        StatementKind::DeleteWithoutWhere,
        &[("billing", "Invoices_2024")],
    );
    assert_eq!(p.decide(&context(&hit, true)).rule, "protect-billing");
    let other_schema = classified(StatementKind::DeleteWithoutWhere, &[("shop", "invoices")]);
    assert_eq!(
        p.decide(&context(&other_schema, true)).action,
        Action::Allow,
        "schema differs, thread 7"
    );
    let mut ctx = context(&other_schema, true);
    ctx.origin_thread = Some(9);
    assert_eq!(p.decide(&ctx).action, Action::Quarantine);
}

#[test]
fn unknown_kinds_and_bad_flags_are_named() {
    let bad: Vec<RuleConfig> = vec![RuleConfig {
        name: "oops".into(),
        kinds: vec!["drop_tabel".into()],
        schema: None,
        table: None,
        foreign_key_checks: None,
        unique_checks: None,
        sql_log_bin: None,
        origin_threads: vec![],
        temporary: false,
        destructive_ddl: false,
        rows_deleted_over: None,
        action: Action::Halt,
    }];
    let err = Policy::from_config(Some(&bad)).unwrap_err().to_string();
    assert!(
        err.contains("oops") && err.contains("drop_tabel") && err.contains("drop_table"),
        "{err}"
    );
}

#[test]
fn rows_rules_judge_row_counts_and_only_row_counts() {
    let rules: Vec<RuleConfig> = toml::from_str::<toml::Table>(
        r#"
        [[rule]]
        name = "mass-delete"
        schema = "shop"
        rows_deleted_over = 1000
        action = "halt"
        [[rule]]
        name = "everything"
        action = "log"
        "#,
    )
    .unwrap()["rule"]
        .clone()
        .try_into()
        .unwrap();
    let p = Policy::from_config(Some(&rules)).unwrap();
    assert!(p.has_rows_rules());
    let rows = |schema, deleted| RowsContext {
        schema,
        table: "orders",
        deleted,
    };
    assert_eq!(p.decide_rows(&rows("shop", 1000)), None, "not over 1000");
    assert_eq!(
        p.decide_rows(&rows("shop", 1001)).map(|v| v.rule),
        Some("mass-delete".to_owned())
    );
    assert_eq!(p.decide_rows(&rows("crm", 50_000)), None, "other schema");
    // A statement is never judged by a rows rule.
    let delete = classified(StatementKind::DeleteWithoutWhere, &[("shop", "orders")]);
    assert_eq!(p.decide(&context(&delete, true)).rule, "everything");
    assert!(!default_policy().has_rows_rules());
}

#[test]
fn rows_rules_refuse_statement_keys() {
    let rules: Vec<RuleConfig> = toml::from_str::<toml::Table>(
        r#"
        [[rule]]
        name = "confused"
        kinds = ["delete"]
        rows_deleted_over = 10
        action = "halt"
        "#,
    )
    .unwrap()["rule"]
        .clone()
        .try_into()
        .unwrap();
    let err = Policy::from_config(Some(&rules)).unwrap_err().to_string();
    assert!(
        err.contains("confused") && err.contains("rows_deleted_over"),
        "{err}"
    );
}

#[test]
fn unparsable_destructive_text_fails_closed() {
    let p = default_policy();
    let mut weird = classified(StatementKind::Unparsable, &[]);
    weird.destructive = true;
    assert_eq!(p.decide(&context(&weird, false)).action, Action::Halt);
}

#[test]
fn globs() {
    assert!(glob_matches("*", ""));
    assert!(glob_matches("shop_*", "shop_eu"));
    assert!(glob_matches("SHOP", "shop"));
    assert!(glob_matches("a*b*c", "axxbyyc"));
    assert!(!glob_matches("a*b*c", "axxbyy"));
    assert!(glob_matches("t?", "t1"));
    assert!(!glob_matches("t?", "t12"));
}
