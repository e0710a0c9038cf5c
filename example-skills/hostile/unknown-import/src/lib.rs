//! Hostile: imports an interface the bot does not provide
//! (`acme:tools/deploy`). The bot must refuse it at load, naming the import.

wit_bindgen::generate!({
    inline: r#"
        package acme:tools;

        interface deploy {
            run: func(app: string) -> string;
        }

        world grabby {
            import deploy;
            export describe: func() -> string;
        }
    "#,
});

struct Grabby;

impl Guest for Grabby {
    fn describe() -> String {
        acme::tools::deploy::run("everything")
    }
}

export!(Grabby);
