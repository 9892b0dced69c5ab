# Oracle: OLS with explicit fixed-effect dummies (lm), sandwich and plm, for the feols
# validation designs. Writes tests/validation/oracles/feols_r.json.
#   Rscript tests/validation/scripts/feols_r.R
suppressMessages({library(sandwich); library(plm)})
here <- "tests/validation"
rd <- function(f) read.csv(file.path(here, "data", f))
out <- list()
put <- function(name, fit, V, terms) {
  b <- coef(fit)[terms]; se <- sqrt(diag(V))[terms]
  out[[name]] <<- list(coef = as.list(b), se = as.list(se), nobs = nobs(fit))
}
b <- rd("feols_balanced.csv")
f <- lm(y ~ x1 + x2 + factor(unit) + factor(year), data = b)
tm <- c("x1", "x2")
put("bal_iid", f, vcov(f), tm)
put("bal_hc1", f, vcovHC(f, type = "HC1"), tm)
put("bal_crv1_unit_full", f, vcovCL(f, cluster = ~unit, type = "HC1"), tm)
put("bal_crv1_grp_full", f, vcovCL(f, cluster = ~grp, type = "HC1"), tm)
put("bal_crv1_twoway_full", f, vcovCL(f, cluster = ~unit + year, type = "HC1", multi0 = FALSE), tm)
fw <- lm(y ~ x1 + x2 + factor(unit) + factor(year), data = b, weights = w)
put("bal_weighted_crv1_unit_full", fw, vcovCL(fw, cluster = ~unit, type = "HC1"), tm)
f3 <- lm(y ~ x1 + x2 + factor(unit) + factor(year) + factor(region):factor(year), data = b)
put("bal_threefe_hc1", f3, vcovHC(f3, type = "HC1"), tm)
p <- plm(y ~ x1 + x2, data = pdata.frame(b, index = c("unit", "year")), model = "within",
         effect = "twoways")
out[["bal_plm_hc1_group"]] <- list(coef = as.list(coef(p)[tm]),
  se = as.list(sqrt(diag(vcovHC(p, method = "arellano", type = "HC1", cluster = "group")))[tm]),
  nobs = nrow(b))
u <- rd("feols_unbalanced.csv")
u <- u[u$unit != 999, ]  # the singleton unit (feols drops it)
# x3 = 2 x1 - x2 is collinear: lm would report it NA, feols drops it; fit without it
fu <- lm(y ~ x1 + x2 + factor(unit) + factor(year), data = u)
put("unbal_crv1_unit_full", fu, vcovCL(fu, cluster = ~unit, type = "HC1"), tm)
put("unbal_iid", fu, vcov(fu), tm)
fc <- rd("feols_fewclusters.csv")
ff <- lm(y ~ x1 + x2 + factor(unit) + factor(year), data = fc)
put("few_crv1_unit_full", ff, vcovCL(ff, cluster = ~unit, type = "HC1"), tm)
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA), file.path(here, "oracles", "feols_r.json"))
