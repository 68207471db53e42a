const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 })
const smallPercent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 2 })
const twoDecimals = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })

/** A share as a percentage; rates under 1% keep two decimals so 0.04% does not read as 0%. */
export const formatShare = (value: number) => (value > 0 && value < 0.01 ? smallPercent : percent).format(value)
export const formatRatio = (value: number) => twoDecimals.format(value)

export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${twoDecimals.format(seconds)} s` : `${Math.round(seconds)} s`
}
